// `npm start`: the main job. Until the signaling server lands (issue: signaling server for the
// edge), it says what `npm start` will do and what already runs, instead of pretending.
const port = Number(process.env.PORT ?? 8080);
console.log(`DLion mesh: npm start

What this will do once the signaling server and dashboard exist:
  - build the dashboard (app/) if it is missing,
  - start one process on http://localhost:${port}/ serving the dashboard, the signaling
    WebSocket (/ws), /api/rooms, /metrics and /healthz,
  - print the URL: open it in a few tabs and they form a training mesh.

What runs today: the pure core (DLion's algorithms, the wire codec and the protocol schemas).
  npm test             typecheck, lint and every test suite
  npm run bench:core   top-k and codec throughput at P = 100k, 1M, 10M`);
