/** @module Background work: a PostgreSQL job queue and singleton loops under an advisory-lock leader. */
export { type EnqueueOptions, type Job, JobQueue, type WorkOptions } from './job-queue.ts';
export { type SingletonLoop, type SingletonLoopOptions, startSingletonLoop } from './singleton-loop.ts';
