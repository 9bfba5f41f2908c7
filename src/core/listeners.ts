/**
 * The listeners of one kind of news a tier publishes (changes made elsewhere, leases released
 * elsewhere): any number of them, each added with a function that removes it again. A listener
 * that throws is reported and does not keep the news from the others.
 *
 * @example
 * ```ts
 * const changes = new Listeners<Invalidation>();
 * const unsubscribe = changes.add((change) => drop(change));
 * changes.emit({ key: '0::k' }, (error) => report(error));
 * unsubscribe();
 * ```
 */
export class Listeners<T> {
  private readonly all = new Set<(news: T) => void>();

  /** Adds a listener; returns how to remove it (removing twice is harmless). */
  add(listener: (news: T) => void): () => void {
    // A wrapper per registration: the same function added twice is two listeners, removed one by one.
    const registered = (news: T): void => listener(news);
    this.all.add(registered);
    return () => void this.all.delete(registered);
  }

  emit(news: T, onError: (error: unknown) => void): void {
    for (const listener of this.all) {
      try {
        listener(news);
      } catch (error) {
        onError(error);
      }
    }
  }
}
