<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Model;
use Illuminate\Database\Eloquent\Relations\HasMany;

/**
 * One account-analysis pass over all organisations.
 *
 * @property int $id
 * @property string $trigger
 * @property int $organisations_total
 * @property int $organisations_done
 * @property int $organisations_failed
 * @property int $events_total
 * @property \Illuminate\Support\Carbon $started_at
 * @property \Illuminate\Support\Carbon|null $finished_at
 * @property float|null $duration_seconds
 */
class AnalysisRun extends Model
{
    public $timestamps = false;

    protected $guarded = ['id'];

    protected $casts = [
        'organisations_total' => 'integer',
        'organisations_done' => 'integer',
        'organisations_failed' => 'integer',
        'events_total' => 'integer',
        'started_at' => 'datetime',
        'finished_at' => 'datetime',
        'duration_seconds' => 'float',
    ];

    public function analyses(): HasMany
    {
        return $this->hasMany(AccountAnalysis::class);
    }
}
