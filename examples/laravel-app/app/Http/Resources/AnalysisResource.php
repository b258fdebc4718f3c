<?php

namespace App\Http\Resources;

use Illuminate\Http\Resources\Json\JsonResource;
use Illuminate\Support\Carbon;

/** @mixin \App\Models\AccountAnalysis */
class AnalysisResource extends JsonResource
{
    public function toArray($request): array
    {
        return [
            'id' => $this->id,
            'organisation_id' => $this->organisation_id,
            'analysis_run_id' => $this->analysis_run_id,
            'events_count' => $this->events_count,
            'events_by_type' => self::sortedTypes($this->events_by_type),
            'revenue_cents' => $this->revenue_cents,
            'users_seen' => $this->users_seen,
            'active_users' => $this->active_users,
            'first_event_at' => $this->first_event_at?->toIso8601String(),
            'last_event_at' => $this->last_event_at?->toIso8601String(),
            'busiest_day' => $this->busiest_day?->format('Y-m-d'),
            'busiest_day_events' => $this->busiest_day_events,
            'chunks' => $this->chunks,
            'peak_memory_bytes' => $this->peak_memory_bytes,
            'duration_seconds' => $this->duration_seconds,
            'analysed_at' => $this->created_at?->toIso8601String(),
        ];
    }

    /**
     * Types in alphabetical order (jsonb keeps its own key order), as an object even when empty.
     *
     * @param  array<string, int>|null  $types
     */
    private static function sortedTypes(?array $types): object
    {
        $types ??= [];
        ksort($types);

        return (object) $types;
    }

    /**
     * The same shape from a raw row of a joined query.
     *
     * @return array<string, mixed>
     */
    public static function fromRow(object $row): array
    {
        $time = fn (?string $value) => $value === null ? null : Carbon::parse($value)->toIso8601String();

        return [
            'id' => (int) $row->analysis_id,
            'organisation_id' => (int) $row->id,
            'analysis_run_id' => $row->analysis_run_id === null ? null : (int) $row->analysis_run_id,
            'events_count' => (int) $row->events_count,
            'events_by_type' => self::sortedTypes(json_decode($row->events_by_type, true)),
            'revenue_cents' => (int) $row->revenue_cents,
            'users_seen' => (int) $row->users_seen,
            'active_users' => (int) $row->active_users,
            'first_event_at' => $time($row->first_event_at),
            'last_event_at' => $time($row->last_event_at),
            'busiest_day' => $row->busiest_day,
            'busiest_day_events' => (int) $row->busiest_day_events,
            'chunks' => (int) $row->chunks,
            'peak_memory_bytes' => (int) $row->peak_memory_bytes,
            'duration_seconds' => (float) $row->duration_seconds,
            'analysed_at' => $time($row->analysed_at),
        ];
    }
}
