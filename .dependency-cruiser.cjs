// Layering rules, checked by the README's test command (`depcruise src`). The layers, low to
// high: core (errors, paging, capability names), db, queue, storage, media, realtime, auth, net,
// providers, pipeline, services (what several feature modules or the HTTP plugins share),
// schemas (API schemas several modules share) — none of which may know about HTTP or the
// feature modules — then http/ (the cross-cutting plugins) and modules/<feature>/ (routes +
// services), wired together by app.ts.
const LOW =
  "^src/(core|db|queue|storage|media|realtime|auth|net|providers|pipeline|story|voices|metrics|jobs|services|schemas)/";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-folder-cycles",
      comment: "Folders form a hierarchy: no folder depends on a folder that depends back on it.",
      severity: "error",
      scope: "folder",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-module-cycles",
      comment: "No file depends on itself through others.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "low-layers-stay-low",
      comment: "Low layers never import the HTTP layer or a feature module.",
      severity: "error",
      from: { path: LOW },
      to: { path: "^src/(http|modules)/" },
    },
    {
      name: "modules-do-not-reach-into-each-other",
      comment:
        "A feature module uses another only through a service layer that belongs to neither (src/services/ or a low layer).",
      severity: "error",
      from: { path: "^src/modules/([^/]+)/" },
      to: { path: "^src/modules/([^/]+)/", pathNot: "^src/modules/$1/" },
    },
    {
      name: "http-does-not-know-features",
      comment: "The HTTP plugins serve every module and so import none.",
      severity: "error",
      from: { path: "^src/http/" },
      to: { path: "^src/modules/" },
    },
    {
      name: "no-orphans-in-src",
      comment: "A file nothing imports is dead code (entry points and type declarations for untyped packages excepted).",
      severity: "error",
      from: { orphan: true, path: "^src/", pathNot: ["^src/(cli|server|worker)\\.ts$", "\\.d\\.ts$"] },
      to: {},
    },
    {
      name: "src-never-imports-tests-or-scripts",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(tests|scripts)/" },
    },
    {
      name: "no-unresolvable",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
