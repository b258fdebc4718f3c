/**
 * production: the reference app's web process behind a load balancer, a queue worker and PostgreSQL,
 * on this machine (the local provider).
 */
import {
  Approval,
  Database,
  DeployStrategy,
  Duration,
  Environment,
  Infrastructure,
  LoadBalancer,
  Promotion,
  Provider,
  Scaling,
  SecretRef,
  Service,
} from 'slipway/environments';

const infra = new Infrastructure();
const environment = new Environment(infra, 'production', {
  provider: Provider.local(),
  approval: Approval.byAdmin(),
  tier: 'standard',
  secrets: ['APP_KEY'],
  config: {
    APP_NAME: 'Reference app (production)',
    APP_ENV: 'production',
    APP_DEBUG: 'false',
    LOG_CHANNEL: 'stderr',
    QUEUE_CONNECTION: 'database',
    CACHE_DRIVER: 'database',
    MAIL_MAILER: 'log',
    WEB_CONCURRENCY: '4',
  },
  deploy: DeployStrategy.rolling({ batchSize: 1, maxSurge: 1 }),
  promotion: Promotion.after('staging'),
});
const secrets = { APP_KEY: SecretRef.named('APP_KEY') };
const web = new Service(environment, 'web', {
  app: 'laravel-app',
  processType: 'web',
  port: 8080,
  // Elastic: a host added by scaling installs the environment's current release by itself.
  scaling: Scaling.auto({ min: 2, max: 6 }),
  healthCheck: {
    path: '/up',
    interval: Duration.seconds(1),
    timeout: Duration.millis(800),
    rise: 2,
    fall: 2,
  },
  secrets,
  stopTimeout: Duration.seconds(20),
});
new Service(environment, 'worker', {
  app: 'laravel-app',
  processType: 'worker',
  secrets,
  stopTimeout: Duration.seconds(20),
});
new LoadBalancer(environment, 'public', { service: web, ports: [80] });
new Database(environment, 'main', {
  databases: ['laravel'],
  roles: [{ name: 'laravel', databases: ['laravel'] }],
});
