/**
 * The reference conformance cases of the GPU benchmark (scripts/gpu-bench.sh):
 * every case of a fixture run on the active tfjs backend and compared with
 * the reference outputs at the fixture's tolerance.
 */
import { parseSafetensors } from '@tarflow/checkpoint';
import type { ConformanceRow } from '@tarflow/bench';
import { caseNames, FixtureSession, type FixtureFiles } from './cases.js';
import { compareWithReference, parseTolerance } from './compare.js';

/** Runs every reference case of a fixture on the active backend and compares at its tolerance. */
export async function conformance(files: FixtureFiles, deadline: number, log: (l: string) => void): Promise<ConformanceRow[]> {
  const eps = parseTolerance(files.spec.tolerance);
  const expected = parseSafetensors(files.expected);
  const session = new FixtureSession(files);
  const rows: ConformanceRow[] = [];
  try {
    for (const c of caseNames(files.spec)) {
      if (Date.now() > deadline) break;
      const r = await session.run(c);
      const cmps = Object.entries(r.outputs).map(([k, v]) => compareWithReference(expected, k, v, eps));
      const bad = cmps.find((x) => !x.ok);
      const row: ConformanceRow = {
        fixture: files.name,
        case: c,
        ok: !bad,
        maxAbsError: Math.max(...cmps.map((x) => x.maxAbsError)),
        ms: Math.round(r.wallMs),
        ...(bad ? { failure: `${bad.key}: max abs error ${bad.maxAbsError} at [${bad.worstAt.index}] (got ${bad.worstAt.got}, reference ${bad.worstAt.ref})` } : {}),
      };
      rows.push(row);
      log(`  conformance ${files.name} ${c}: ${row.ok ? 'ok' : 'OUTSIDE TOLERANCE'} (max abs error ${row.maxAbsError.toExponential(2)})`);
    }
  } finally {
    session.dispose();
  }
  return rows;
}
