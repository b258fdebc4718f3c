<?php

namespace App\Http\Controllers;

use App\Http\Resources\UserResource;
use App\Jobs\SendWelcomeEmail;
use App\Models\Organisation;
use App\Models\User;
use Illuminate\Http\JsonResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Resources\Json\AnonymousResourceCollection;
use Illuminate\Validation\Rule;

class UserController extends Controller
{
    /** GET /api/organisations/{id}/users?page=&per_page= */
    public function index(Request $request, Organisation $organisation): AnonymousResourceCollection
    {
        $users = $organisation->users()->orderBy('id')->paginate($this->perPage($request))->withQueryString();

        return UserResource::collection($users);
    }

    /** POST /api/organisations/{id}/users {name, email, role?}: also queues the welcome email. */
    public function store(Request $request, Organisation $organisation): JsonResponse
    {
        $request->merge(['email' => is_string($request->input('email')) ? mb_strtolower(trim($request->input('email'))) : $request->input('email')]);
        $data = $this->validate($request, [
            'name' => ['required', 'string', 'min:1', 'max:200'],
            'email' => ['required', 'string', 'email:rfc', 'max:254', 'unique:users,email'],
            'role' => ['sometimes', Rule::in(User::ROLES)],
        ]);

        $user = $organisation->users()->create([
            'name' => $data['name'],
            'email' => $data['email'],
            'role' => $data['role'] ?? 'member',
        ]);
        SendWelcomeEmail::dispatch($user->id);

        return (new UserResource($user))->response()->setStatusCode(201);
    }

    /** GET /api/users/{id} */
    public function show(User $user): UserResource
    {
        return new UserResource($user);
    }
}
