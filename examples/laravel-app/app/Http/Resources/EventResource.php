<?php

namespace App\Http\Resources;

use Illuminate\Http\Resources\Json\JsonResource;

/** @mixin \App\Models\Event */
class EventResource extends JsonResource
{
    public function toArray($request): array
    {
        return [
            'id' => $this->id,
            'organisation_id' => $this->organisation_id,
            'user_id' => $this->user_id,
            'type' => $this->type,
            'amount_cents' => (int) $this->amount_cents,
            'occurred_at' => $this->occurred_at?->toIso8601String(),
        ];
    }
}
