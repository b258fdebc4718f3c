<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\Schema;

return new class extends Migration
{
    public function up(): void
    {
        // One row per scheduled (or manual) run over all organisations.
        Schema::create('analysis_runs', function (Blueprint $table) {
            $table->bigIncrements('id');
            $table->string('trigger', 20);
            $table->integer('organisations_total');
            $table->integer('organisations_done')->default(0);
            $table->integer('organisations_failed')->default(0);
            $table->bigInteger('events_total')->default(0);
            $table->timestampTz('started_at');
            $table->timestampTz('finished_at')->nullable();
            $table->double('duration_seconds')->nullable();
            $table->index('started_at');
        });

        // The result of analysing one organisation's events.
        Schema::create('account_analyses', function (Blueprint $table) {
            $table->bigIncrements('id');
            $table->foreignId('organisation_id')->constrained()->cascadeOnDelete();
            $table->foreignId('analysis_run_id')->nullable()->constrained()->nullOnDelete();
            $table->bigInteger('events_count');
            $table->integer('users_seen');
            $table->integer('active_users');
            $table->jsonb('events_by_type');
            $table->bigInteger('revenue_cents');
            $table->timestampTz('first_event_at')->nullable();
            $table->timestampTz('last_event_at')->nullable();
            $table->date('busiest_day')->nullable();
            $table->integer('busiest_day_events')->default(0);
            $table->integer('chunks');
            $table->bigInteger('peak_memory_bytes');
            $table->double('duration_seconds');
            $table->timestampTz('created_at')->useCurrent();
            $table->index(['organisation_id', 'id']);
            $table->index('created_at');
        });
    }

    public function down(): void
    {
        Schema::dropIfExists('account_analyses');
        Schema::dropIfExists('analysis_runs');
    }
};
