// The demo app for a real cluster: the same behaviour the test harness simulates. It serves / with a
// success or an error and a latency chosen by DEMO_BEHAVIOUR (good, bad: 20% errors and slow, slow), and
// /metrics with http_requests_total{code} and http_request_duration_seconds for Prometheus to scrape.
import { createServer } from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const behaviours = {
  good: { errorRatio: 0, latencySeconds: 0.05 },
  slow: { errorRatio: 0, latencySeconds: 0.8 },
  bad: { errorRatio: 0.2, latencySeconds: 0.8 },
};
const behaviour = behaviours[process.env.DEMO_BEHAVIOUR ?? 'good'];
if (behaviour === undefined) {
  console.error(`DEMO_BEHAVIOUR must be one of ${Object.keys(behaviours).join(', ')}`);
  process.exit(2);
}

const registry = new Registry();
collectDefaultMetrics({ register: registry });
const requests = new Counter({ name: 'http_requests_total', help: 'Requests served, by status code.', labelNames: ['code'], registers: [registry] });
const latency = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'Request latency.',
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

let served = 0;
const server = createServer((req, res) => {
  if (req.url === '/metrics') {
    registry.metrics().then((text) => {
      res.setHeader('Content-Type', registry.contentType);
      res.end(text);
    });
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
server.listen(port, () => console.log(`demo app (${process.env.DEMO_BEHAVIOUR ?? 'good'}) on :${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
