// A reverse index: which owners (e.g. AccessPolicies) refer to a target (e.g.
// a Connection), so a change of the target re-queues exactly its owners.
export class RefIndex {
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly byRef = new Map<string, Set<string>>();

  set(owner: string, refs: Iterable<string>): void {
    this.delete(owner);
    const set = new Set(refs);
    this.byOwner.set(owner, set);
    for (const r of set) {
      let owners = this.byRef.get(r);
      if (!owners) this.byRef.set(r, (owners = new Set()));
      owners.add(owner);
    }
  }

  delete(owner: string): void {
    for (const r of this.byOwner.get(owner) ?? []) {
      const owners = this.byRef.get(r);
      owners?.delete(owner);
      if (owners?.size === 0) this.byRef.delete(r);
    }
    this.byOwner.delete(owner);
  }

  owners(ref: string): string[] {
    return [...(this.byRef.get(ref) ?? [])].sort();
  }
}
