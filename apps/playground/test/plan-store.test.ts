/**
 * The page's side of the kept plans (src/plan-store.ts) over an in-memory
 * Storage: entries under the prefix are read, one that is not JSON is removed
 * with a note, a refused write is a note, and the worker's bridged store
 * hands every kept value back as JSON.
 */
import { describe, expect, it } from 'vitest';
import { bridgedPlanStore, PLAN_KEY_PREFIX, readStoredPlans, writeStoredPlan } from '../src/plan-store.js';

function fakeStorage(quota = Infinity) {
  const m = new Map<string, string>();
  return {
    map: m,
    get length() {
      return m.size;
    },
    key: (i: number) => [...m.keys()][i] ?? null,
    getItem: (k: string) => m.get(k) ?? null,
    setItem(k: string, v: string) {
      const used = [...m.values()].reduce((s, x) => s + x.length, 0) - (m.get(k)?.length ?? 0);
      if (used + v.length > quota) throw Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
      m.set(k, v);
    },
    removeItem: (k: string) => void m.delete(k),
  };
}

describe('kept plans in localStorage', () => {
  it('reads the entries under the prefix, and removes one that is not JSON, with a note', () => {
    const s = fakeStorage();
    s.setItem(`${PLAN_KEY_PREFIX}plans-aa`, JSON.stringify([{ version: 8 }]));
    s.setItem(`${PLAN_KEY_PREFIX}plans-bb`, '{"version": 8, "pla');
    s.setItem('other-app', 'not ours');
    const { entries, notes } = readStoredPlans(s);
    expect(entries).toEqual({ 'plans-aa': [{ version: 8 }] });
    expect(notes).toEqual(['the kept plan entry plans-bb was not readable and was removed']);
    expect(s.getItem(`${PLAN_KEY_PREFIX}plans-bb`)).toBeNull();
    expect(s.getItem('other-app')).toBe('not ours');
  });

  it('writes under the prefix; a full storage is a note, not an error', () => {
    const s = fakeStorage(40);
    expect(writeStoredPlan(s, 'plans-aa', '[1,2]')).toBeNull();
    expect(s.getItem(`${PLAN_KEY_PREFIX}plans-aa`)).toBe('[1,2]');
    const note = writeStoredPlan(s, 'table-cc', JSON.stringify({ data: new Array(40).fill(1) }));
    expect(note).toMatch(/kept for this visit only: .*QuotaExceededError/);
    expect(s.getItem(`${PLAN_KEY_PREFIX}table-cc`)).toBeNull();
  });

  it("the worker's store reads the page's entries and sends each kept value back as JSON", () => {
    const sent: Array<[string, string]> = [];
    const store = bridgedPlanStore(new Map<string, unknown>([['plans-aa', [{ version: 8 }]]]), (k, json) => sent.push([k, json]));
    expect(store.get('plans-aa')).toEqual([{ version: 8 }]);
    expect(store.get('plans-zz')).toBeUndefined();
    store.set('plans-zz', [{ version: 8, plan: { batch: { min: 2 } } }]);
    expect(store.get('plans-zz')).toEqual([{ version: 8, plan: { batch: { min: 2 } } }]);
    expect(sent).toEqual([['plans-zz', '[{"version":8,"plan":{"batch":{"min":2}}}]']]);
  });
});
