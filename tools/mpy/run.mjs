// Run firmware code inside the real MicroPython interpreter (WebAssembly port, under Node).
//
//   node tools/mpy/run.mjs --tests tests/device/test_core.py [...]   run test_* functions
//   node tools/mpy/run.mjs --script bench/mpy_tick.py [args...]     run a script
//
// The repository's device-side packages (firmware/, inverter/, tests/device/,
// tools/mpy/) are copied into the interpreter's in-memory filesystem under
// /repo, so imports resolve exactly as on the board. Exit code: 0 on success,
// 1 if any test failed or the script raised.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
let ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const DEVICE_TREES = ["firmware", "inverter", "tests", "tools/mpy", "bench"];
const HOST_ONLY = new Set(["plant", "__pycache__", "node_modules"]);

function usage(msg) {
  process.stderr.write(`run.mjs: ${msg}\nusage: run.mjs [--heap BYTES] [--root DIR] (--tests FILE.py... | --script FILE.py [ARGS...])\n`);
  process.exit(2);
}

let heap = 16 * 1024 * 1024;
const argv = process.argv.slice(2);
for (;;) {
  if (argv[0] === "--heap") { heap = parseInt(argv[1], 10); argv.splice(0, 2); if (!(heap > 0)) usage("bad --heap"); }
  else if (argv[0] === "--root") { ROOT = path.resolve(argv[1]); argv.splice(0, 2); }  // another tree laid out like this repo
  else break;
}
const mode = argv.shift();
if (mode !== "--tests" && mode !== "--script") usage("need --tests or --script");
if (argv.length === 0) usage("no files given");

function copyTree(mp, rel) {
  const abs = path.join(ROOT, rel);
  if (!fs.existsSync(abs)) return;
  mp.FS.mkdirTree("/repo/" + rel);
  for (const ent of fs.readdirSync(abs, { withFileTypes: true })) {
    if (HOST_ONLY.has(ent.name)) continue;
    const r = rel + "/" + ent.name;
    if (ent.isDirectory()) copyTree(mp, r);
    else if (ent.name.endsWith(".py") || ent.name.endsWith(".json") || ent.name.endsWith(".bin")) {
      mp.FS.writeFile("/repo/" + r, fs.readFileSync(path.join(ROOT, r)));
    }
  }
}

const out = (line) => process.stdout.write(line + "\n");
const err = (line) => process.stderr.write(line + "\n");
const mp = await loadMicroPython({ stdout: out, stderr: err, heapsize: heap });
for (const t of DEVICE_TREES) copyTree(mp, t);

function toRepoRel(p) {
  const rel = path.relative(ROOT, path.resolve(p)).split(path.sep).join("/");
  if (rel.startsWith("..")) usage(`${p} is outside the repository`);
  return rel;
}

const files = argv.map(toRepoRel);
mp.globals.set("_ARGS", mode === "--tests" ? files : files.slice(1).concat(argv.slice(1)));
let code;
if (mode === "--tests") {
  mp.globals.set("_MODULES", files.map((f) => f.replace(/\.py$/, "").split("/").join(".")));
  code = "import sys\nsys.path.insert(0, '/repo')\nimport testrunner\n_rc = testrunner.run_modules(_MODULES)\n";
  mp.FS.writeFile("/repo/testrunner.py", fs.readFileSync(path.join(HERE, "testrunner.py")));
} else {
  mp.FS.writeFile("/repo/__script__.py", fs.readFileSync(path.join(ROOT, files[0])));
  // this port has no sys.argv: the script sees its arguments as the global ARGV
  // like CPython, the script's own folder comes first on the path
  const scriptDir = "/repo/" + path.posix.dirname(files[0]);
  code = "import sys\nsys.path.insert(0, '/repo')\nsys.path.insert(0, '" + scriptDir + "')\n_rc = 0\nexec(open('/repo/__script__.py').read(), {'__name__': '__main__', 'ARGV': list(_ARGS)})\n";
}
try {
  mp.runPython(code);
  process.exitCode = mp.globals.get("_rc") ? 1 : 0;
} catch (e) {
  err(String(e.message || e));
  process.exitCode = 1;
}
