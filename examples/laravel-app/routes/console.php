<?php

// Closure-based console commands would go here; the app's commands are classes
// listed in App\Console\Kernel::$commands.
