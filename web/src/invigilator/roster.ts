import type { RosterRow, RosterUpdate } from '../../../server/protocol.js';
import { formatDuration, h } from '../lib/dom.js';
import type { ServerClock } from '../lib/server-clock.js';

export type RosterFilter = 'all' | 'disconnected' | 'flagged' | 'finished' | 'not_started';
export type SortKey = 'name' | 'connected' | 'progress' | 'remaining' | 'flags' | 'status';

const STATUS_LABEL: Record<RosterRow['status'], string> = {
  not_started: 'Not started',
  in_progress: 'In progress',
  submitted: 'Submitted',
  expired: 'Time ran out',
  terminated: 'Terminated',
};

/** Names compared as people read them: "Student 2" before "Student 10". */
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

const finished = (r: RosterRow) => r.status === 'submitted' || r.status === 'expired' || r.status === 'terminated';

function matches(r: RosterRow, f: RosterFilter): boolean {
  switch (f) {
    case 'all':
      return true;
    case 'disconnected':
      return !r.connected && r.status === 'in_progress';
    case 'flagged':
      return r.flags > 0;
    case 'finished':
      return finished(r);
    case 'not_started':
      return r.status === 'not_started';
  }
}

/** What each cell shows now; a cell is written only when this changes. */
interface Shown {
  connected?: boolean;
  answered?: number;
  total?: number;
  remaining?: string;
  flags?: number;
  status?: string;
}

interface Row {
  data: RosterRow;
  el: HTMLTableRowElement;
  connected: HTMLTableCellElement;
  progress: HTMLProgressElement;
  progressText: HTMLSpanElement;
  remaining: HTMLTableCellElement;
  flags: HTMLTableCellElement;
  status: HTMLTableCellElement;
  shown: Shown;
  /** Passes the filter (else `hidden`). */
  visible: boolean;
  /** In or near the scrolled view; rows off screen are written once they scroll in. */
  onScreen: boolean;
  stale: boolean;
}

/**
 * The live roster table of one exam, built for hundreds of rows: events only change the row's data
 * and mark it dirty; once per animation frame the dirty rows' changed cells are written, and only for
 * rows on screen (the others when they scroll in). Nothing is rebuilt per event; the order is recomputed
 * at most once a second while events change what it sorts by.
 */
export class RosterTable {
  readonly table: HTMLTableElement;
  /** The scrolling box around the table (what the page mounts). */
  readonly element: HTMLDivElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly rows = new Map<number, Row>();
  private readonly dirty = new Set<Row>();
  private frame = 0;
  private tickAll = false;
  private filter: RosterFilter = 'all';
  private sortKey: SortKey = 'name';
  private sortDir: 1 | -1 = 1;
  private orderStale = false;
  private lastOrderAt = 0;
  private readonly headers = new Map<SortKey, HTMLTableCellElement>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly byElement = new WeakMap<Element, Row>();
  private readonly observer: IntersectionObserver;

  /** Tracks which rows are in (or within 300 px of) the scrolled view of `root`. */
  private observe(root: Element): IntersectionObserver {
    return new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          const row = this.byElement.get(e.target);
          if (!row) continue;
          row.onScreen = e.isIntersecting;
          if (row.onScreen && row.stale) this.dirty.add(row);
        }
        if (this.dirty.size) this.schedule();
      },
      { root, rootMargin: '300px 0px' },
    );
  }

  /** Called once per frame with the latest counts (for the summary line). */
  onSummary: (s: { total: number; connected: number; flagged: number; finished: number; notStarted: number; shown: number }) => void = () => {};

  constructor(
    private readonly clock: ServerClock,
    private readonly onSelect: (row: RosterRow) => void,
  ) {
    this.tbody = h('tbody', {});
    const th = (key: SortKey | null, label: string) => {
      if (!key) return h('th', { scope: 'col' }, label);
      const cell = h(
        'th',
        { scope: 'col', 'aria-sort': key === this.sortKey ? 'ascending' : 'none' },
        h('button', { type: 'button', class: 'sort', onclick: () => this.sortBy(key) }, label),
      );
      this.headers.set(key, cell);
      return cell;
    };
    this.table = h(
      'table',
      { class: 'roster', id: 'roster' },
      h('caption', { class: 'sr-only' }, 'Students of this exam'),
      h(
        'thead',
        {},
        h('tr', {}, th('name', 'Student'), th('connected', 'Connection'), th('progress', 'Progress'), th('remaining', 'Time left'), th('flags', 'Flags'), th('status', 'Status')),
      ),
      this.tbody,
    );
    this.element = h('div', { class: 'table-scroll' }, this.table);
    this.observer = this.observe(this.element);
    this.timer = setInterval(() => {
      this.tickAll = true;
      this.schedule();
    }, 1000);
  }

  close(): void {
    clearInterval(this.timer);
    cancelAnimationFrame(this.frame);
    this.observer.disconnect();
  }

  /** The whole roster (on watch and after every reconnect). */
  load(rows: RosterRow[]): void {
    for (const row of this.rows.values()) this.observer.unobserve(row.el);
    this.rows.clear();
    this.dirty.clear();
    const fragment = document.createDocumentFragment();
    for (const data of rows) {
      const row = this.buildRow(data);
      this.rows.set(data.student.id, row);
      this.dirty.add(row);
    }
    for (const row of this.sorted()) fragment.append(row.el);
    this.tbody.replaceChildren(fragment);
    this.tickAll = true;
    // The first write covers every row; from then on only rows on screen are kept current.
    for (const row of this.rows.values()) row.onScreen = true;
    this.flush();
    for (const row of this.rows.values()) {
      row.onScreen = false;
      this.observer.observe(row.el);
    }
  }

  get(studentId: number): RosterRow | undefined {
    return this.rows.get(studentId)?.data;
  }

  byAttempt(attemptId: number): RosterRow | undefined {
    for (const r of this.rows.values()) if (r.data.attemptId === attemptId) return r.data;
    return undefined;
  }

  /** A partial row from `roster:update`. Returns the new flag count when it went up (for the cue). */
  apply(update: RosterUpdate): { flagsUp: boolean } {
    const row = this.rows.get(update.student.id);
    if (!row) return { flagsUp: false };
    const d = row.data;
    const flagsUp = update.flags !== undefined && update.flags > d.flags;
    if (update.attemptId !== null && update.attemptId !== undefined) d.attemptId = update.attemptId;
    if (update.status !== undefined) d.status = update.status;
    if (update.connected !== undefined) d.connected = update.connected;
    if (update.answered !== undefined) d.answered = update.answered;
    if (update.flags !== undefined) d.flags = update.flags;
    if (update.deadlineAt !== undefined) d.deadlineAt = update.deadlineAt;
    if (update.remainingMs !== undefined) d.remainingMs = update.remainingMs;
    if (flagsUp) {
      row.el.classList.remove('flash');
      // Restart the highlight animation on the next frame.
      requestAnimationFrame(() => row.el.classList.add('flash'));
    }
    this.markDirty(row);
    return { flagsUp };
  }

  /** The attempt ended (the row may not have had its status update yet). */
  ended(attemptId: number, status: RosterRow['status']): void {
    for (const row of this.rows.values()) {
      if (row.data.attemptId !== attemptId) continue;
      row.data.status = status;
      this.markDirty(row);
    }
  }

  setFilter(f: RosterFilter): void {
    this.filter = f;
    for (const row of this.rows.values()) this.dirty.add(row);
    this.schedule();
  }

  sortBy(key: SortKey): void {
    if (this.sortKey === key) this.sortDir = this.sortDir === 1 ? -1 : 1;
    else {
      this.sortKey = key;
      this.sortDir = key === 'flags' || key === 'progress' ? -1 : 1;
    }
    for (const [k, cell] of this.headers) {
      cell.setAttribute('aria-sort', k === key ? (this.sortDir === 1 ? 'ascending' : 'descending') : 'none');
    }
    this.reorder();
  }

  private markDirty(row: Row): void {
    this.dirty.add(row);
    if (this.sortKey !== 'name') this.orderStale = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.flush();
    });
  }

  private buildRow(data: RosterRow): Row {
    const progress = h('progress', { max: 1, value: 0, 'aria-hidden': 'true' });
    const progressText = h('span', { class: 'progress-text' });
    const connected = h('td', { class: 'conn-cell' });
    const remaining = h('td', { class: 'num' });
    const flags = h('td', { class: 'num flags' });
    const status = h('td', {});
    const name = h('button', { type: 'button', class: 'link student', onclick: () => this.onSelect(data) }, data.student.name);
    const el = h('tr', { 'data-student': data.student.id }, h('th', { scope: 'row' }, name), connected, h('td', {}, h('div', { class: 'progress-cell' }, progress, progressText)), remaining, flags, status);
    const row: Row = { data, el, connected, progress, progressText, remaining, flags, status, shown: {}, visible: true, onScreen: false, stale: false };
    this.byElement.set(el, row);
    return row;
  }

  private remainingText(d: RosterRow): string {
    if (d.status !== 'in_progress' || !d.deadlineAt) return '—';
    return formatDuration(this.clock.remaining(d.deadlineAt) ?? d.remainingMs ?? 0);
  }

  private write(row: Row): void {
    const d = row.data;
    const visible = matches(d, this.filter);
    if (visible !== row.visible) {
      row.el.hidden = !visible;
      row.visible = visible;
    }
    if (!row.onScreen || !visible) {
      row.stale = true;
      return;
    }
    row.stale = false;
    const s = row.shown;
    if (s.connected !== d.connected || s.status !== d.status) {
      const text = d.status === 'not_started' && !d.connected ? '—' : d.connected ? 'Connected' : 'Disconnected';
      row.connected.textContent = text;
      row.connected.className = `conn-cell ${d.connected ? 'ok' : d.status === 'in_progress' ? 'bad' : ''}`;
      s.connected = d.connected;
    }
    if (s.answered !== d.answered || s.total !== d.total) {
      row.progress.max = Math.max(1, d.total);
      row.progress.value = d.answered;
      row.progressText.textContent = `${d.answered} of ${d.total}`;
      s.answered = d.answered;
      s.total = d.total;
    }
    const remaining = this.remainingText(d);
    if (s.remaining !== remaining) {
      row.remaining.textContent = remaining;
      s.remaining = remaining;
    }
    if (s.flags !== d.flags) {
      row.flags.textContent = String(d.flags);
      row.flags.classList.toggle('has-flags', d.flags > 0);
      s.flags = d.flags;
    }
    if (s.status !== d.status) {
      row.status.textContent = STATUS_LABEL[d.status];
      row.el.dataset.status = d.status;
      s.status = d.status;
    }
  }

  private flush(): void {
    if (this.tickAll) {
      this.tickAll = false;
      for (const row of this.rows.values()) if (row.onScreen && row.data.status === 'in_progress') this.dirty.add(row);
    }
    for (const row of this.dirty) this.write(row);
    this.dirty.clear();
    if (this.orderStale && performance.now() - this.lastOrderAt > 1000) this.reorder();
    let connected = 0;
    let flagged = 0;
    let done = 0;
    let notStarted = 0;
    let shown = 0;
    for (const { data: d, visible } of this.rows.values()) {
      if (d.connected) connected++;
      if (d.flags > 0) flagged++;
      if (finished(d)) done++;
      if (d.status === 'not_started') notStarted++;
      if (visible) shown++;
    }
    this.onSummary({ total: this.rows.size, connected, flagged, finished: done, notStarted, shown });
  }

  private sorted(): Row[] {
    const key = this.sortKey;
    const dir = this.sortDir;
    const value = (r: RosterRow): number | string => {
      switch (key) {
        case 'name':
          return 0;
        case 'connected':
          return r.connected ? 1 : 0;
        case 'progress':
          return r.total ? r.answered / r.total : 0;
        case 'remaining':
          return r.status === 'in_progress' && r.deadlineAt ? Date.parse(r.deadlineAt) : Number.MAX_SAFE_INTEGER;
        case 'flags':
          return r.flags;
        case 'status':
          return r.status;
      }
    };
    return [...this.rows.values()].sort((a, b) => {
      const va = value(a.data);
      const vb = value(b.data);
      if (va < vb) return -dir;
      if (va > vb) return dir;
      return collator.compare(a.data.student.name, b.data.student.name);
    });
  }

  /** Puts the rows in order, moving only when the order really changed. */
  private reorder(): void {
    this.orderStale = false;
    this.lastOrderAt = performance.now();
    const order = this.sorted();
    const now = this.tbody.children;
    if (order.length === now.length && order.every((r, i) => now[i] === r.el)) return;
    const fragment = document.createDocumentFragment();
    for (const row of order) fragment.append(row.el);
    this.tbody.append(fragment);
  }
}
