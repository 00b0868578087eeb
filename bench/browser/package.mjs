// Which built npm package the benchmark pages import: pkg/ (scripts/build-pkg.sh), or the
// directory in BENCH_PKG — e.g. a package built from an earlier commit, to compare before and
// after in the same conditions.
import { join, resolve } from "node:path";

import { repoRoot } from "../report.mjs";

/** The package directory measured. */
export const packageDir = process.env.BENCH_PKG ? resolve(process.env.BENCH_PKG) : join(repoRoot, "pkg");

/** Serves `packageDir` where the pages import the package from (/pkg/, their import map). */
export async function routePackage(context) {
  if (!process.env.BENCH_PKG) return;
  await context.route("**/pkg/**", (route) => {
    const path = new URL(route.request().url()).pathname.replace(/^\/pkg\//, "");
    return route.fulfill({ path: join(packageDir, ...path.split("/")) });
  });
}
