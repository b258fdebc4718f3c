import type { Kysely } from 'kysely';
import type { Clock, Logger } from '../core/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import type { EnvelopeCipher } from '../secrets/index.ts';
import { inTransaction } from '../store/index.ts';
import { deliver, giveUp } from './deliver.ts';
import { DELIVERY_QUEUE, type NotificationInput, recordNotification } from './notify.ts';

/** What the notifier needs. */
export interface NotifierOptions {
  readonly db: Kysely<any>;
  readonly queue: JobQueue;
  readonly clock: Clock;
  /** The secrets store's cipher for channel credentials; undefined while it is sealed or absent. */
  readonly cipher: () => EnvelopeCipher | undefined;
  readonly logger?: Logger;
  /** Attempts after the first failure. @default 5 */
  readonly retryLimit?: number;
  /** Seconds before the first retry, doubled each time. @default 10 */
  readonly retryDelaySeconds?: number;
}

/**
 * Records notifications and delivers them through every configured channel, in the background and
 * with retries: email over SMTP to each recipient, Slack-compatible or JSON webhooks.
 */
export class Notifier {
  readonly #options: NotifierOptions;

  constructor(options: NotifierOptions) {
    this.#options = options;
  }

  /** Starts this replica's delivery worker. */
  async start(): Promise<void> {
    await this.#options.queue.work<{ deliveryId: string }>(
      DELIVERY_QUEUE,
      async (job) => {
        try {
          await deliver(this.#options.db, job.data.deliveryId, this.#options.cipher(), () =>
            this.#options.clock.now(),
          );
        } catch (error) {
          if (job.isLastAttempt) await giveUp(this.#options.db, job.data.deliveryId);
          throw error;
        }
      },
      { pollingIntervalSeconds: 1 },
    );
  }

  /**
   * Records a notification and queues its deliveries. Inside `transaction` both commit with the
   * caller's change (and the workers are woken after it); otherwise in a transaction of their own.
   */
  async notify(input: NotificationInput, options: { transaction?: Kysely<any> } = {}): Promise<string> {
    const write = async (trx: Kysely<any>) => {
      const recorded = await recordNotification(trx, input);
      for (const deliveryId of recorded.deliveryIds) {
        await this.#options.queue.enqueue(
          DELIVERY_QUEUE,
          { deliveryId },
          {
            transaction: trx,
            retryLimit: this.#options.retryLimit ?? 5,
            retryDelaySeconds: this.#options.retryDelaySeconds ?? 10,
            expireInSeconds: 120,
          },
        );
      }
      return recorded.id;
    };
    if (options.transaction) {
      const id = await write(options.transaction);
      // The caller commits; a short timer wakes the workers once the jobs are visible.
      setTimeout(() => this.#options.queue.wake(DELIVERY_QUEUE), 50).unref();
      return id;
    }
    const id = await inTransaction(this.#options.db, write);
    this.#options.queue.wake(DELIVERY_QUEUE);
    return id;
  }
}
