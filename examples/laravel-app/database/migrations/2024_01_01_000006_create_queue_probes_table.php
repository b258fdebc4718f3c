<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\Schema;

return new class extends Migration
{
    public function up(): void
    {
        // Deliberately long jobs that record when they start and finish, to check
        // that workers drain gracefully (see `php artisan queue:probe`).
        Schema::create('queue_probes', function (Blueprint $table) {
            $table->bigIncrements('id');
            $table->double('seconds');
            $table->string('status', 20)->default('queued');
            $table->integer('worker_pid')->nullable();
            $table->timestampTz('started_at', 6)->nullable();
            $table->timestampTz('finished_at', 6)->nullable();
            $table->timestampTz('created_at')->useCurrent();
        });
    }

    public function down(): void
    {
        Schema::dropIfExists('queue_probes');
    }
};
