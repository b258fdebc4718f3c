<?php

namespace App\Http\Resources;

use Illuminate\Http\Resources\Json\JsonResource;

/** @mixin \App\Models\Organisation */
class OrganisationResource extends JsonResource
{
    public function toArray($request): array
    {
        return [
            'id' => $this->id,
            'name' => $this->name,
            'slug' => $this->slug,
            'plan' => $this->plan,
            'users_count' => $this->when(isset($this->users_count), fn () => (int) $this->users_count),
            'latest_analysis' => $this->when(
                $this->relationLoaded('latestAnalysis'),
                fn () => $this->latestAnalysis === null ? null : new AnalysisResource($this->latestAnalysis)
            ),
            'created_at' => $this->created_at?->toIso8601String(),
            'updated_at' => $this->updated_at?->toIso8601String(),
        ];
    }
}
