// Two figures of this machine for the machine table of a bench run (report.ts, describeMachine), measured in a
// Node process of their own, printed as one JSON line. They let runs on different machines (sessions land on
// different CPUs) be compared:
// - `wakeUs`: the CPU one wake-up costs: a 1 ms timer that does nothing, again and again (the event loop's timer,
//   the kernel's epoll and timer, and what the machine charges for waking an idle CPU). The worker wakes ~16 times
//   per namespace at the defaults, so this is part of its CPU per namespace (docs/performance.md, thirteenth round);
// - `pieceUs`: a small piece of JavaScript work (parse and serialize ~2 KB of JSON, read a few fields) run back to
//   back: the speed of a core for the kind of work the service does.
// Each is the median of ROUNDS rounds of BLOCK iterations, the two alternating (another process waking on the same
// CPU in one round moves neither figure).
const BLOCK = 500;
const ROUNDS = Number(process.argv[2] ?? 6);
const deployment = {
  metadata: {
    name: 'web',
    namespace: 'shop',
    labels: { app: 'web', tier: 'front' },
    annotations: { a: 'x'.repeat(200) },
  },
  spec: {
    replicas: 2,
    template: { spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
  },
  status: { replicas: 2, readyReplicas: 2 },
};
const text = JSON.stringify({ items: [deployment, deployment, deployment, deployment] });
function piece() {
  const list = JSON.parse(text);
  let n = 0;
  for (const item of list.items) n += item.spec.replicas + Object.keys(item.metadata.labels).length;
  return JSON.stringify(list).length + n;
}
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
/** CPU per iteration: `piece` back to back (setImmediate), or an empty 1 ms timer. */
async function loop(mode) {
  const before = cpuUs();
  let i = 0;
  await new Promise((done) => {
    const step = () => {
      if (mode === 'piece') piece();
      if (++i >= BLOCK) return done();
      if (mode === 'piece') setImmediate(step);
      else setTimeout(step, 1);
    };
    step();
  });
  return (cpuUs() - before) / BLOCK;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (let i = 0; i < 5000; i++) piece(); // optimized before any loop is timed
const rounds = { piece: [], wake: [] };
for (let r = 0; r < ROUNDS; r++) for (const mode of Object.keys(rounds)) rounds[mode].push(await loop(mode));
console.log(JSON.stringify({ wakeUs: median(rounds.wake), pieceUs: median(rounds.piece) }));
