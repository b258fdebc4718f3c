<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Model;
use Illuminate\Database\Eloquent\Relations\BelongsTo;

/**
 * Something that happened in an organisation: the large, append-only table.
 *
 * @property int $id
 * @property int $organisation_id
 * @property int|null $user_id
 * @property string $type
 * @property int $amount_cents
 * @property \Illuminate\Support\Carbon $occurred_at
 */
class Event extends Model
{
    public const TYPES = ['login', 'page_view', 'feature_used', 'purchase', 'refund'];

    public const UPDATED_AT = null;

    protected $fillable = ['user_id', 'type', 'amount_cents', 'occurred_at'];

    protected $casts = [
        'amount_cents' => 'integer',
        'occurred_at' => 'datetime',
    ];

    public function organisation(): BelongsTo
    {
        return $this->belongsTo(Organisation::class);
    }

    public function user(): BelongsTo
    {
        return $this->belongsTo(User::class);
    }
}
