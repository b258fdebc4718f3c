<?php

namespace App\Http\Controllers;

use App\Http\Resources\EventResource;
use App\Models\Event;
use App\Models\Organisation;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Resources\Json\AnonymousResourceCollection;
use Illuminate\Validation\Rule;

class EventController extends Controller
{
    /** GET /api/organisations/{id}/events?cursor=&per_page=: newest first, cursor-paginated (the table is large). */
    public function index(Request $request, Organisation $organisation): AnonymousResourceCollection
    {
        $events = $organisation->events()->orderByDesc('id')->cursorPaginate($this->perPage($request))->withQueryString();

        return EventResource::collection($events);
    }

    /** POST /api/organisations/{id}/events {type, user_id?, amount_cents?, occurred_at?} */
    public function store(Request $request, Organisation $organisation): JsonResponse
    {
        $data = $this->validate($request, [
            'type' => ['required', Rule::in(Event::TYPES)],
            'user_id' => ['sometimes', 'nullable', 'integer', Rule::exists('users', 'id')->where('organisation_id', $organisation->id)],
            'amount_cents' => [Rule::requiredIf(in_array($request->input('type'), ['purchase', 'refund'], true)), 'integer', 'min:0', 'max:1000000000000'],
            'occurred_at' => ['sometimes', 'date', 'before_or_equal:+5 minutes'],
        ], [
            'user_id.exists' => 'The user must belong to this organisation.',
        ]);

        $event = $organisation->events()->create([
            'user_id' => $data['user_id'] ?? null,
            'type' => $data['type'],
            'amount_cents' => $data['amount_cents'] ?? 0,
            'occurred_at' => $data['occurred_at'] ?? now(),
        ]);

        return (new EventResource($event))->response()->setStatusCode(201);
    }
}
