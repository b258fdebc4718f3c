<?php

namespace App\Models;

use Illuminate\Database\Eloquent\Model;
use Illuminate\Database\Eloquent\Relations\HasMany;
use Illuminate\Database\Eloquent\Relations\HasOne;

/**
 * An account of the SaaS: users and events belong to one organisation.
 *
 * @property int $id
 * @property string $name
 * @property string $slug
 * @property string $plan
 */
class Organisation extends Model
{
    public const PLANS = ['free', 'team', 'business', 'enterprise'];

    protected $fillable = ['name', 'slug', 'plan'];

    public function users(): HasMany
    {
        return $this->hasMany(User::class);
    }

    public function events(): HasMany
    {
        return $this->hasMany(Event::class);
    }

    public function analyses(): HasMany
    {
        return $this->hasMany(AccountAnalysis::class);
    }

    public function latestAnalysis(): HasOne
    {
        return $this->hasOne(AccountAnalysis::class)->ofMany('id', 'max');
    }
}
