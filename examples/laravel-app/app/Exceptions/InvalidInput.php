<?php

namespace App\Exceptions;

use InvalidArgumentException;

/**
 * A value given by an operator (environment variable, option) is wrong. The
 * message says which and what is expected; it is shown, not logged as a crash.
 */
class InvalidInput extends InvalidArgumentException
{
}
