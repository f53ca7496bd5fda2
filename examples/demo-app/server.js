// The demo app for a real cluster: the same behaviour the test harness simulates (test/harness/simulator.ts).
// It serves / with a success or an error after a latency chosen by its behaviour, and /metrics with
// http_requests_total{code} and http_request_duration_seconds for Prometheus to scrape.
//
// The behaviour is DEMO_BEHAVIOUR (good | bad | slow), or else follows DEMO_VERSION the way the simulator
// follows an image tag: a version containing "bad" answers every fifth request with a 500 and takes 0.8 s,
// one containing "slow" only takes 0.8 s, anything else answers 200 in 0.05 s.
// DEMO_LOAD_RPS=20 makes the app send itself that many requests a second, so it has traffic to measure
// without a load generator.
import { createServer, request } from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const behaviours = {
  good: { errorRatio: 0, latencySeconds: 0.05 },
  slow: { errorRatio: 0, latencySeconds: 0.8 },
  bad: { errorRatio: 0.2, latencySeconds: 0.8 },
};

/** DEMO_BEHAVIOUR if set, otherwise the behaviour DEMO_VERSION's name implies. */
function behaviourName(env) {
  if (env.DEMO_BEHAVIOUR) return env.DEMO_BEHAVIOUR;
  const version = (env.DEMO_VERSION ?? '').toLowerCase();
  if (version.includes('bad')) return 'bad';
  if (version.includes('slow')) return 'slow';
  return 'good';
}

const name = behaviourName(process.env);
const behaviour = behaviours[name];
if (behaviour === undefined) {
  console.error(`DEMO_BEHAVIOUR must be one of ${Object.keys(behaviours).join(', ')}, not ${JSON.stringify(name)}`);
  process.exit(2);
}

const registry = new Registry();
collectDefaultMetrics({ register: registry });
const requests = new Counter({ name: 'http_requests_total', help: 'Requests served, by status code.', labelNames: ['code'], registers: [registry] });
// Both codes exist from the start, so a healthy version reports a measured 0 errors rather than nothing.
requests.inc({ code: '200' }, 0);
requests.inc({ code: '500' }, 0);
const latency = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'Request latency.',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

let served = 0;
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://demo').pathname;
  if (path === '/metrics') {
    registry.metrics().then(
      (text) => {
        res.setHeader('Content-Type', registry.contentType);
        res.end(text);
      },
      (err) => {
        res.statusCode = 500;
        res.end(String(err));
      },
    );
    return;
  }
  if (path === '/healthz') {
    res.end('ok\n');
    return;
  }
  const stop = latency.startTimer();
  // Every fifth request fails when errorRatio is 0.2: deterministic, like the simulator.
  served += 1;
  const fail = behaviour.errorRatio > 0 && served % Math.round(1 / behaviour.errorRatio) === 0;
  setTimeout(() => {
    res.statusCode = fail ? 500 : 200;
    res.end(fail ? 'error\n' : 'ok\n');
    requests.inc({ code: String(res.statusCode) });
    stop();
  }, behaviour.latencySeconds * 1000);
});

const port = Number(process.env.PORT ?? 8080);
const loadRps = Number(process.env.DEMO_LOAD_RPS ?? 0);
let load;
server.listen(port, () => {
  console.log(`demo app (${name}) on :${port}${loadRps > 0 ? `, loading itself at ${loadRps} req/s` : ''}`);
  if (loadRps > 0) {
    load = setInterval(() => {
      request({ host: '127.0.0.1', port, path: '/' }, (res) => res.resume())
        .on('error', () => undefined)
        .end();
    }, 1000 / loadRps);
  }
});

const shutdown = () => {
  clearInterval(load);
  server.close(() => process.exit(0));
  // Keep-alive connections from scrapers would hold close() open; do not wait for them for long.
  setTimeout(() => process.exit(0), 5000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
