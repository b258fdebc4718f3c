<?php

namespace App\Http\Controllers;

use App\Http\Resources\OrganisationResource;
use App\Models\Organisation;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Resources\Json\AnonymousResourceCollection;
use Illuminate\Support\Str;
use Illuminate\Validation\Rule;

class OrganisationController extends Controller
{
    /** GET /api/organisations?search=&plan=&page=&per_page= */
    public function index(Request $request): AnonymousResourceCollection
    {
        $filters = $this->validate($request, [
            'search' => ['sometimes', 'string', 'max:200'],
            'plan' => ['sometimes', Rule::in(Organisation::PLANS)],
        ]);

        $query = Organisation::query()->withCount('users')->orderBy('id');
        if (isset($filters['search'])) {
            $query->where('name', 'ilike', '%'.addcslashes($filters['search'], '%_\\').'%');
        }
        if (isset($filters['plan'])) {
            $query->where('plan', $filters['plan']);
        }

        return OrganisationResource::collection($query->paginate($this->perPage($request))->withQueryString());
    }

    /** POST /api/organisations {name, slug?, plan?} */
    public function store(Request $request): JsonResponse
    {
        $data = $this->validate($request, [
            'name' => ['required', 'string', 'min:2', 'max:200'],
            'slug' => ['sometimes', 'string', 'max:100', 'regex:/^[a-z0-9]+(-[a-z0-9]+)*$/', 'unique:organisations,slug'],
            'plan' => ['sometimes', Rule::in(Organisation::PLANS)],
        ], [
            'slug.regex' => 'The slug may contain lower-case letters, digits and single hyphens between them.',
        ]);

        $organisation = Organisation::create([
            'name' => $data['name'],
            'slug' => $data['slug'] ?? $this->freeSlug($data['name']),
            'plan' => $data['plan'] ?? 'free',
        ]);
        $organisation->users_count = 0;

        // No Location header: HAProxy 2.6 turns a FastCGI response carrying one into a 302
        // (haproxy/haproxy#2865); the body holds the new id.
        return (new OrganisationResource($organisation))->response()->setStatusCode(201);
    }

    /** GET /api/organisations/{id}: with user count and the latest analysis. */
    public function show(Organisation $organisation): OrganisationResource
    {
        $organisation->loadCount('users');
        $organisation->setRelation('latestAnalysis', $organisation->analyses()->orderByDesc('id')->first());

        return new OrganisationResource($organisation);
    }

    private function freeSlug(string $name): string
    {
        $base = Str::limit(Str::slug($name), 80, '') ?: 'organisation';
        $slug = $base;
        for ($suffix = 2; Organisation::where('slug', $slug)->exists(); $suffix++) {
            $slug = "{$base}-{$suffix}";
        }

        return $slug;
    }
}
