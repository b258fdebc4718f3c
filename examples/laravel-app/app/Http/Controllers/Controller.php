<?php

namespace App\Http\Controllers;

use Illuminate\Foundation\Validation\ValidatesRequests;
use Illuminate\Http\Request;
use Illuminate\Routing\Controller as BaseController;

abstract class Controller extends BaseController
{
    use ValidatesRequests;

    /** The per_page query parameter, validated: 1 to 100, default 25. */
    protected function perPage(Request $request): int
    {
        $validated = $this->validate($request, ['per_page' => ['sometimes', 'integer', 'min:1', 'max:100']]);

        return (int) ($validated['per_page'] ?? 25);
    }
}
