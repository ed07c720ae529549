/**
 * The reference conformance cases on Node WebGPU (Dawn). They run where Dawn
 * finds an adapter (a GPU with a Vulkan/Metal/D3D12 driver, or a software
 * Vulkan driver named by VK_ICD_FILENAMES) and are skipped, with the reason in
 * the suite's name, where it finds none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors } from '@tarflow/checkpoint';
import { initWebGPU, probeWebGPU } from '@tarflow/backend-webgpu/node';
import { caseNames, FixtureSession } from '../src/cases.js';
import { compareWithReference, describeComparison, parseTolerance } from '../src/compare.js';
import { fixtureNames, readFixture } from '../src/fixtures.js';

const probe = await probeWebGPU();
const title = probe.available
  ? `Node WebGPU conformance on ${probe.adapterName}`
  : `Node WebGPU conformance — skipped: ${probe.reason}`;
if (!probe.available) console.warn(`[webgpu-tests] ${title}`);

describe.skipIf(!probe.available)(title, () => {
  beforeAll(async () => {
    await initWebGPU();
  });

  describe.each(fixtureNames())('%s', (name) => {
    const files = readFixture(name);
    const eps = parseTolerance(files.spec.tolerance);
    const expected = parseSafetensors(files.expected);
    let session: FixtureSession;
    beforeAll(() => {
      session = new FixtureSession(files);
    });
    afterAll(() => session?.dispose());

    for (const c of caseNames(files.spec)) {
      it(c, async () => {
        const r = await session.run(c);
        let maxErr = 0;
        for (const [key, got] of Object.entries(r.outputs)) {
          const cmp = compareWithReference(expected, key, got, eps);
          expect(cmp.ok, describeComparison(cmp, eps)).toBe(true);
          maxErr = Math.max(maxErr, cmp.maxAbsError);
        }
        if ('fallbacks' in r.facts) expect(r.facts.fallbacks, 'divergence fallbacks').toBe(0);
        console.log(`[node-webgpu] ${name} ${c}: max abs error ${maxErr.toExponential(2)}, ${r.wallMs.toFixed(0)} ms`);
      });
    }
  });
});
