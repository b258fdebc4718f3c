<?php

require __DIR__.'/../bootstrap/autoload.php';
