<?php

namespace App\Exceptions;

use Illuminate\Database\Eloquent\ModelNotFoundException;
use Illuminate\Foundation\Exceptions\Handler as ExceptionHandler;
use Illuminate\Http\Request;
use Illuminate\Support\Str;
use Symfony\Component\HttpKernel\Exception\NotFoundHttpException;
use Throwable;

class Handler extends ExceptionHandler
{
    /** Operator mistakes: shown with their message, not logged as crashes. */
    protected $dontReport = [InvalidInput::class];

    /** Never echoed back in validation errors. */
    protected $dontFlash = ['password', 'password_confirmation'];

    public function register(): void
    {
        // "Cannot find organisation 42" rather than Eloquent's class-name message.
        $this->renderable(function (NotFoundHttpException $e, Request $request) {
            $previous = $e->getPrevious();
            if ($previous instanceof ModelNotFoundException) {
                $what = Str::snake(class_basename($previous->getModel()), ' ');
                $ids = implode(', ', $previous->getIds());

                return response()->json(['message' => "Cannot find {$what} {$ids}"], 404);
            }

            return response()->json(['message' => 'Cannot find '.$request->getPathInfo()], 404);
        });
    }

    /** The app has no HTML error pages: every error is JSON. */
    protected function shouldReturnJson($request, Throwable $e)
    {
        return true;
    }

    /** Adds the request id HAProxy assigned, to match log lines with responses. */
    protected function context()
    {
        $requestId = request()?->headers->get('X-Request-Id');

        return array_filter(array_merge(parent::context(), ['request_id' => $requestId]));
    }
}
