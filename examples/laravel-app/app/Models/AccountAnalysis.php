<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Builder;
use Illuminate\Database\Eloquent\Model;
use Illuminate\Database\Eloquent\Prunable;
use Illuminate\Database\Eloquent\Relations\BelongsTo;

/**
 * The stored result of analysing one organisation's events.
 *
 * @property int $id
 * @property int $organisation_id
 * @property int|null $analysis_run_id
 * @property int $events_count
 * @property array<string, int> $events_by_type
 * @property float $duration_seconds
 */
class AccountAnalysis extends Model
{
    use Prunable;

    public const UPDATED_AT = null;

    protected $table = 'account_analyses';

    protected $guarded = ['id'];

    protected $casts = [
        'events_count' => 'integer',
        'users_seen' => 'integer',
        'active_users' => 'integer',
        'events_by_type' => 'array',
        'revenue_cents' => 'integer',
        'first_event_at' => 'datetime',
        'last_event_at' => 'datetime',
        'busiest_day' => 'date:Y-m-d',
        'busiest_day_events' => 'integer',
        'chunks' => 'integer',
        'peak_memory_bytes' => 'integer',
        'duration_seconds' => 'float',
    ];

    public function organisation(): BelongsTo
    {
        return $this->belongsTo(Organisation::class);
    }

    public function run(): BelongsTo
    {
        return $this->belongsTo(AnalysisRun::class, 'analysis_run_id');
    }

    /** Results older than the retention window go (`php artisan model:prune`, scheduled daily). */
    public function prunable(): Builder
    {
        return static::where('created_at', '<', now()->subDays(max(1, (int) config('analysis.retention_days'))));
    }
}
