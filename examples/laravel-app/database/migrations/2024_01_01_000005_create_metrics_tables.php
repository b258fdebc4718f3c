<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\Schema;

return new class extends Migration
{
    public function up(): void
    {
        // Counters shared by every worker: jobs processed and failed, per job class.
        Schema::create('queue_job_counters', function (Blueprint $table) {
            $table->string('job', 100);
            $table->string('status', 20);
            $table->bigInteger('count')->default(0);
            $table->primary(['job', 'status']);
        });

        // Cumulative histogram buckets (count of observations <= le) per metric.
        Schema::create('histogram_buckets', function (Blueprint $table) {
            $table->string('metric', 100);
            $table->double('le');
            $table->bigInteger('count')->default(0);
            $table->primary(['metric', 'le']);
        });

        // Sum, count and last observation per histogram metric.
        Schema::create('histogram_totals', function (Blueprint $table) {
            $table->string('metric', 100)->primary();
            $table->double('sum')->default(0);
            $table->bigInteger('count')->default(0);
            $table->double('last')->default(0);
            $table->timestampTz('updated_at')->nullable();
        });
    }

    public function down(): void
    {
        Schema::dropIfExists('histogram_totals');
        Schema::dropIfExists('histogram_buckets');
        Schema::dropIfExists('queue_job_counters');
    }
};
