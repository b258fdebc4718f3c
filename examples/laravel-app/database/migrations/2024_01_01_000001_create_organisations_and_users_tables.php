<?php

use Illuminate\Database\Migrations\Migration;
use Illuminate\Database\Schema\Blueprint;
use Illuminate\Support\Facades\Schema;

return new class extends Migration
{
    public function up(): void
    {
        Schema::create('organisations', function (Blueprint $table) {
            $table->bigIncrements('id');
            $table->string('name', 200);
            $table->string('slug', 100)->unique();
            $table->string('plan', 20)->default('free');
            $table->timestampsTz();
        });

        Schema::create('users', function (Blueprint $table) {
            $table->bigIncrements('id');
            $table->foreignId('organisation_id')->constrained()->cascadeOnDelete();
            $table->string('name', 200);
            $table->string('email', 254)->unique();
            $table->string('role', 20)->default('member');
            $table->timestampTz('welcome_sent_at')->nullable();
            $table->timestampsTz();
            $table->index(['organisation_id', 'id']);
        });
    }

    public function down(): void
    {
        Schema::dropIfExists('users');
        Schema::dropIfExists('organisations');
    }
};
