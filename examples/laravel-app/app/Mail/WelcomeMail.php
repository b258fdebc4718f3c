<?php

namespace App\Mail;

use App\Models\User;
use Illuminate\Mail\Mailable;

/**
 * The email a new user receives.
 */
class WelcomeMail extends Mailable
{
    public function __construct(public User $user)
    {
    }

    public function build(): self
    {
        $organisation = $this->user->organisation->name ?? 'your organisation';
        $name = e($this->user->name);
        $app = e(config('app.name'));

        return $this->subject("Welcome to {$organisation}")
            ->html("<p>Hello {$name},</p><p>You now have access to <strong>".e($organisation)."</strong> on {$app}.</p>");
    }
}
