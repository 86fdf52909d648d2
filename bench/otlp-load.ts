/**
 * The otlp-ingest benchmark's client, in its own process: sends one
 * pre-encoded OTLP/protobuf trace request over gRPC or HTTP at a fixed rate.
 * `node otlp-load.js <grpc|http> <host:port> <request file> <spans per request> <spans/s> <seconds>`
 * prints `{"sent","ok","pushback","failed","spans_ok"}` when done.
 */
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { Client, credentials, status } from '@grpc/grpc-js';

const [protocol, endpoint, file, perRequestArg, rateArg, secondsArg] = process.argv.slice(2);
const body = readFileSync(file);
const perRequest = Number(perRequestArg);
const requestsPerSecond = Number(rateArg) / perRequest;
const seconds = Number(secondsArg);
const MAX_IN_FLIGHT = 64;

const counts = { sent: 0, ok: 0, pushback: 0, failed: 0, spans_ok: 0 };
let inFlight = 0;

type Outcome = 'ok' | 'pushback' | 'failed';
let send: (done: (outcome: Outcome) => void) => void;
let close = (): void => undefined;

if (protocol === 'grpc') {
  const client = new Client(endpoint, credentials.createInsecure());
  const identity = (b: Buffer): Buffer => b;
  send = (done) => client.makeUnaryRequest('/opentelemetry.proto.collector.trace.v1.TraceService/Export', identity, identity, body, (error) => {
    done(!error ? 'ok' : error.code === status.RESOURCE_EXHAUSTED ? 'pushback' : 'failed');
  });
  close = () => client.close();
} else {
  const agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  const [host, port] = endpoint.split(':');
  send = (done) => {
    const req = httpRequest({ host, port: Number(port), path: '/v1/traces', method: 'POST', agent, headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode === 200 ? 'ok' : res.statusCode === 429 || res.statusCode === 503 ? 'pushback' : 'failed'));
    });
    req.on('error', () => done('failed'));
    req.end(body);
  };
  close = () => agent.destroy();
}

const started = Date.now();
let due = 0;
await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const elapsed = (Date.now() - started) / 1000;
    if (elapsed >= seconds) {
      clearInterval(timer);
      resolve();
      return;
    }
    // Requests due by now; a client that cannot keep up (all slots busy) skips, as a real one would fall behind.
    const target = Math.floor(elapsed * requestsPerSecond);
    while (due < target) {
      due++;
      if (inFlight >= MAX_IN_FLIGHT) continue;
      inFlight++;
      counts.sent++;
      send((outcome) => {
        inFlight--;
        counts[outcome]++;
        if (outcome === 'ok') counts.spans_ok += perRequest;
      });
    }
  }, 5);
});
while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
close();
process.stdout.write(JSON.stringify(counts) + '\n');
