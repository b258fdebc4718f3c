<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Model;
use Illuminate\Database\Eloquent\Relations\BelongsTo;

/**
 * A person using the SaaS, member of exactly one organisation.
 *
 * @property int $id
 * @property int $organisation_id
 * @property string $name
 * @property string $email
 * @property string $role
 * @property \Illuminate\Support\Carbon|null $welcome_sent_at
 */
class User extends Model
{
    public const ROLES = ['owner', 'admin', 'member'];

    protected $fillable = ['name', 'email', 'role'];

    protected $casts = [
        'welcome_sent_at' => 'datetime',
    ];

    public function organisation(): BelongsTo
    {
        return $this->belongsTo(Organisation::class);
    }
}
