<?php

namespace App\Jobs;

use App\Mail\WelcomeMail;
use App\Models\User;
use Illuminate\Bus\Queueable;
use Illuminate\Contracts\Queue\ShouldQueue;
use Illuminate\Foundation\Bus\Dispatchable;
use Illuminate\Queue\InteractsWithQueue;
use Illuminate\Support\Facades\Mail;

/**
 * Sends a new user their welcome email, once, and records when it went out.
 */
class SendWelcomeEmail implements ShouldQueue
{
    use Dispatchable, InteractsWithQueue, Queueable;

    public int $tries = 5;

    /** @var list<int> */
    public array $backoff = [10, 60, 300];

    public function __construct(public int $userId)
    {
    }

    public function handle(): void
    {
        $user = User::with('organisation')->find($this->userId);
        if ($user === null || $user->welcome_sent_at !== null) {
            return;
        }

        Mail::to($user)->send(new WelcomeMail($user));

        $user->forceFill(['welcome_sent_at' => now()])->save();
    }
}
