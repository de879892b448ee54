import { io, type Socket } from 'socket.io-client';
import {
  FLAG_EVENT_TYPES,
  INVIGILATOR_EVENTS,
} from '../../../server/protocol-names.js';
import type {
  AckData,
  AttemptEndedEvent,
  ErrorBodyWire,
  InvigilatorClientToServerEvents,
  InvigilatorProctorEvent,
  InvigilatorServerToClientEvents,
  PayloadOf,
  ProctorEventType,
  RosterRow,
} from '../../../server/protocol.js';
import { api, ApiError, downloadWithToken } from '../lib/api.js';
import { confirmDialog } from '../lib/dialog.js';
import { byId, formatDateTime, formatTime, h, mount } from '../lib/dom.js';
import { showLogin } from '../lib/login.js';
import { ServerClock } from '../lib/server-clock.js';
import { SessionStore, type Session } from '../lib/session.js';
import type { ExamResultsBody, ExamSummary, SiteInfo } from '../lib/types.js';
import { RosterTable, type RosterFilter } from './roster.js';

type Requests = InvigilatorClientToServerEvents;
type ConsoleSocket = Socket<InvigilatorServerToClientEvents, Requests>;

const ACK_TIMEOUT_MS = 10_000;
const FEED_LIMIT = 200;

const store = new SessionStore('exam.invigilator.session');
const main = byId('main');
const statusArea = byId('status-area');

/** An ack as it arrives: `{ok: true, …}` or `{ok: false, error}`, checked before it is believed. */
function isAck(res: unknown): res is { ok: true } | { ok: false; error: ErrorBodyWire } {
  return typeof res === 'object' && res !== null && 'ok' in res && typeof res.ok === 'boolean';
}

/**
 * A fresh id for one invigilator action (the server keeps the first result per id). Built from
 * `getRandomValues`, which unlike `randomUUID` also works on plain http (an exam hall's LAN).
 */
const requestId = (): string => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

/** One request of the console: its payload and its ack's data typed by the protocol's map. */
function request<E extends keyof Requests>(socket: ConsoleSocket, event: E, payload: PayloadOf<Requests[E]>): Promise<AckData<Requests[E]>>;
function request(socket: Socket, event: string, payload: unknown): Promise<object> {
  return send(socket, event, payload, false);
}

function send(socket: Socket, event: string, payload: unknown, retried: boolean): Promise<object> {
  return socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload).then(
    (res: unknown) => {
      if (!isAck(res)) throw new ApiError('INTERNAL', 'The server sent an unexpected answer.');
      if (!res.ok) throw ApiError.from(res.error);
      return res;
    },
    () => {
      // An action carries a request id: sent again, the server answers with the first result instead
      // of acting twice, so one lost ack is retried at once.
      const idempotent = typeof payload === 'object' && payload !== null && 'requestId' in payload;
      if (idempotent && !retried) return send(socket, event, payload, true);
      throw new ApiError('TIMEOUT', 'The server did not answer in time. Check the connection and try again.');
    },
  );
}

// ---------------------------------------------------------------------------------------------

async function showExams(session: Session): Promise<void> {
  history.replaceState(null, '', location.pathname);
  mount(statusArea, signOutButton());
  mount(main, h('p', {}, 'Loading exams…'));
  let exams: ExamSummary[];
  try {
    ({ exams } = await api<{ exams: ExamSummary[] }>('/api/exams', { token: session.token }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signOut();
    mount(main, h('p', { class: 'error', role: 'alert' }, `The exams could not be loaded: ${(err as Error).message}`));
    return;
  }
  mount(
    main,
    h('h1', {}, 'Exams you supervise'),
    h('p', { class: 'muted' }, `Signed in as ${session.user.name} (${session.user.role})`),
    exams.length
      ? h(
          'ul',
          { class: 'plain exam-list' },
          ...exams.map((e) =>
            h(
              'li',
              { class: 'card exam-item' },
              h(
                'div',
                {},
                h('h2', {}, e.title),
                h(
                  'p',
                  { class: 'muted' },
                  `${Math.round(e.durationSeconds / 60)} minutes · ${e.isPublished ? 'published' : 'not published'}` +
                    (e.opensAt ? ` · opens ${formatDateTime(e.opensAt)}` : '') +
                    (e.closesAt ? ` · closes ${formatDateTime(e.closesAt)}` : ''),
                ),
              ),
              h('button', { type: 'button', class: 'primary', onclick: () => openConsole(session, e) }, 'Open console'),
            ),
          ),
        )
      : h('p', {}, 'No exam is assigned to you.'),
  );
}

function signOutButton(): HTMLElement {
  return h('button', { type: 'button', class: 'link', onclick: () => signOut() }, 'Sign out');
}

let current: ExamConsole | null = null;

function signOut(): void {
  current?.close();
  current = null;
  store.clear();
  void boot();
}

function openConsole(session: Session, exam: ExamSummary): void {
  history.replaceState(null, '', `${location.pathname}#exam=${exam.id}`);
  current?.close();
  current = new ExamConsole(session, exam);
}

// ---------------------------------------------------------------------------------------------

const EVENT_TEXT: Record<string, string> = {
  focus_lost: 'left the exam window',
  focus_gained: 'came back to the exam window',
  visibility_hidden: 'switched to another tab or app',
  visibility_visible: 'came back to the exam tab',
  fullscreen_exit: 'left full screen',
  fullscreen_enter: 'entered full screen',
  paste: 'pasted text',
  copy: 'copied text',
  context_menu: 'opened the context menu',
  devtools_open: 'opened the developer tools',
  network_offline: 'lost the network',
  network_online: 'is back on the network',
};

/** A short beep through WebAudio (no sound file): the cue for a new flag, when switched on. */
class Beeper {
  private ctx: AudioContext | null = null;
  private last = 0;
  enabled = false;

  beep(): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.last < 1000) return;
    this.last = now;
    this.ctx ??= new AudioContext();
    const osc = this.ctx.createOscillator();
    const gain = this.ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, this.ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, this.ctx.currentTime + 0.2);
    osc.connect(gain).connect(this.ctx.destination);
    osc.start();
    osc.stop(this.ctx.currentTime + 0.2);
  }
}

/** The live console of one exam: roster, event feed, actions, results. */
class ExamConsole {
  private readonly socket: ConsoleSocket;
  private readonly clock = new ServerClock();
  private readonly roster: RosterTable;
  private readonly beeper = new Beeper();
  // Focusable: it scrolls, and a keyboard user must be able to scroll it too.
  private readonly feed = h('ol', { id: 'feed', class: 'plain feed', tabindex: 0, 'aria-labelledby': 'feed-title' });
  private readonly feedQueue: HTMLElement[] = [];
  private feedFrame = 0;
  private readonly summary = h('p', { id: 'roster-summary', class: 'muted' });
  private readonly conn = h('span', { id: 'connection', class: 'conn', role: 'status' }, 'Connecting…');
  private readonly result = h('p', { id: 'action-result', class: 'action-result', role: 'status' });
  private readonly selectedBox = h('div', { id: 'selected-student' });
  private readonly resultsBox = h('div', { id: 'results' });
  private selected: RosterRow | null = null;
  private resultsShown = false;
  private resultsTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly session: Session,
    private readonly exam: ExamSummary,
  ) {
    this.roster = new RosterTable(this.clock, (row) => this.select(row));
    this.roster.onSummary = (s) => {
      this.summary.textContent =
        `${s.total} students · ${s.connected} connected · ${s.flagged} flagged · ${s.finished} finished · ${s.notStarted} not started` +
        (s.shown === s.total ? '' : ` · showing ${s.shown}`);
    };
    this.render();
    this.socket = io('/invigilator', { auth: { token: session.token }, transports: ['websocket'], reconnectionDelayMax: 5000 });
    this.wire();
    // The clock for "time left": the server's, from a timestamp it sent (never the device clock alone).
    void api<SiteInfo>('/api/site').then((s) => this.clock.sync(s.serverNow), () => undefined);
  }

  close(): void {
    this.roster.close();
    if (this.resultsTimer) clearTimeout(this.resultsTimer);
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  private render(): void {
    mount(statusArea, this.conn, signOutButton());
    const filter = h(
      'select',
      { id: 'roster-filter', onchange: (ev: Event) => this.roster.setFilter((ev.target as HTMLSelectElement).value as RosterFilter) },
      h('option', { value: 'all' }, 'Everyone'),
      h('option', { value: 'disconnected' }, 'Disconnected'),
      h('option', { value: 'flagged' }, 'Flagged'),
      h('option', { value: 'finished' }, 'Finished'),
      h('option', { value: 'not_started' }, 'Not started'),
    );
    const sound = h('input', {
      type: 'checkbox',
      id: 'sound-toggle',
      onchange: (ev: Event) => {
        this.beeper.enabled = (ev.target as HTMLInputElement).checked;
        this.beeper.beep();
      },
    });
    const minutes = h('input', { id: 'exam-extend-minutes', type: 'number', min: 1, max: 1440, value: 5, class: 'short' });
    const announce = h('textarea', { id: 'announce-text', rows: 2, maxlength: 2000 });
    mount(
      main,
      h(
        'div',
        { class: 'console-head' },
        h('div', {}, h('h1', {}, this.exam.title), this.summary),
        h('button', { type: 'button', onclick: () => void showExams(this.session).then(() => this.close()) }, 'All exams'),
      ),
      this.result,
      h(
        'div',
        { class: 'console-layout' },
        h(
          'section',
          { class: 'roster-box', 'aria-labelledby': 'roster-title' },
          h(
            'div',
            { class: 'toolbar' },
            h('h2', { id: 'roster-title' }, 'Students'),
            h('div', { class: 'field inline' }, h('label', { for: 'roster-filter' }, 'Show'), filter),
          ),
          this.roster.element,
        ),
        h(
          'div',
          { class: 'console-side' },
          h('section', { class: 'card', 'aria-labelledby': 'selected-title' }, h('h2', { id: 'selected-title' }, 'Selected student'), this.selectedBox),
          h(
            'section',
            { class: 'card', 'aria-labelledby': 'exam-actions-title' },
            h('h2', { id: 'exam-actions-title' }, 'Whole exam'),
            h(
              'div',
              { class: 'field inline' },
              h('label', { for: 'exam-extend-minutes' }, 'Minutes'),
              minutes,
              h('button', { type: 'button', id: 'exam-extend', onclick: () => void this.extendAll(Number(minutes.value)) }, 'Extend everyone'),
            ),
            h('div', { class: 'field' }, h('label', { for: 'announce-text' }, 'Announcement'), announce),
            h('button', { type: 'button', id: 'announce', onclick: () => void this.announce(announce) }, 'Announce to everyone'),
          ),
          h(
            'section',
            { class: 'card', 'aria-labelledby': 'feed-title' },
            h(
              'div',
              { class: 'toolbar' },
              h('h2', { id: 'feed-title' }, 'Live events'),
              h('div', { class: 'field inline' }, sound, h('label', { for: 'sound-toggle' }, 'Sound on new flags')),
            ),
            this.feed,
          ),
        ),
      ),
      h(
        'section',
        { class: 'card results-box', 'aria-labelledby': 'results-title' },
        h(
          'div',
          { class: 'toolbar' },
          h('h2', { id: 'results-title' }, 'Results'),
          h('div', {}, h('button', { type: 'button', id: 'show-results', onclick: () => void this.loadResults() }, 'Show results'), ' ',
            h('button', { type: 'button', id: 'download-csv', onclick: () => void this.downloadCsv() }, 'Download CSV')),
        ),
        this.resultsBox,
      ),
    );
    this.renderSelected();
  }

  private wire(): void {
    const s = this.socket;
    s.on('connect', () => void this.watch());
    s.on('disconnect', (reason) => {
      this.setConn('Reconnecting…', 'reconnecting');
      if (reason === 'io server disconnect') s.connect();
    });
    s.on('connect_error', (err) => {
      if (err.message === 'UNAUTHORIZED') return signOut();
      this.setConn(err.message === 'FORBIDDEN' ? 'Not allowed' : 'Reconnecting…', 'reconnecting');
    });
    s.on(INVIGILATOR_EVENTS.rosterUpdate, (update) => {
      for (const u of Array.isArray(update) ? update : [update]) {
        if (u.examId !== undefined && u.examId !== this.exam.id) continue;
        if (this.roster.apply(u).flagsUp) this.beeper.beep();
        if (this.selected && u.student.id === this.selected.student.id) this.renderSelectedSoon();
      }
    });
    s.on(INVIGILATOR_EVENTS.proctorEvent, (ev) => {
      if (ev.examId === this.exam.id) this.addFeed(ev);
    });
    s.on(INVIGILATOR_EVENTS.ended, (ev) => {
      if (ev.examId !== this.exam.id) return;
      this.roster.ended(ev.attemptId, ev.status);
      this.addEnded(ev);
      if (this.resultsShown) this.refreshResultsSoon();
      if (this.selected?.attemptId === ev.attemptId) this.renderSelectedSoon();
    });
  }

  private setConn(text: string, kind: string): void {
    this.conn.textContent = text;
    this.conn.className = `conn conn-${kind}`;
  }

  private async watch(): Promise<void> {
    try {
      const { roster } = await request(this.socket, INVIGILATOR_EVENTS.watch, { examId: this.exam.id });
      const live = roster.find((r) => r.status === 'in_progress' && r.deadlineAt && r.remainingMs !== null);
      if (live) this.clock.sync(new Date(Date.parse(live.deadlineAt!) - live.remainingMs!).toISOString());
      this.roster.load(roster);
      this.setConn('Live', 'online');
      if (this.selected) this.select(this.roster.get(this.selected.student.id) ?? this.selected);
    } catch (err) {
      this.setConn('Not watching', 'offline');
      this.show(`The roster could not be loaded: ${(err as Error).message}`, true);
    }
  }

  // --- feed ----------------------------------------------------------------------------------

  private name(studentId: number): string {
    return this.roster.get(studentId)?.student.name ?? `Student ${studentId}`;
  }

  private addFeed(ev: InvigilatorProctorEvent): void {
    const flag = (FLAG_EVENT_TYPES as readonly string[]).includes(ev.type as ProctorEventType);
    this.queueFeed(
      h(
        'li',
        { class: flag ? 'feed-item flag' : 'feed-item' },
        h('span', { class: 'feed-time' }, formatTime(ev.at)),
        ' ',
        flag ? h('span', { class: 'badge flag-badge' }, 'Flag') : null,
        flag ? ' ' : null,
        h('strong', {}, this.name(ev.student.id)),
        ` ${EVENT_TEXT[ev.type] ?? ev.type}`,
      ),
    );
  }

  private addEnded(ev: AttemptEndedEvent & { examId: number }): void {
    const row = this.roster.byAttempt(ev.attemptId);
    const what = ev.status === 'terminated' ? `was stopped (${ev.reason})` : ev.reason === 'deadline' ? 'ran out of time' : ev.reason === 'forced' ? 'was submitted by an invigilator' : 'submitted';
    this.queueFeed(
      h('li', { class: 'feed-item ended' }, h('span', { class: 'feed-time' }, formatTime(new Date(this.clock.now() ?? Date.now()).toISOString())), ' ', h('strong', {}, row?.student.name ?? `Attempt ${ev.attemptId}`), ` ${what}`),
    );
  }

  /** Feed entries are added once per animation frame, newest first, at most {@link FEED_LIMIT} kept. */
  private queueFeed(item: HTMLElement): void {
    this.feedQueue.push(item);
    if (this.feedFrame) return;
    this.feedFrame = requestAnimationFrame(() => {
      this.feedFrame = 0;
      const fragment = document.createDocumentFragment();
      const items = this.feedQueue.splice(0).reverse().slice(0, FEED_LIMIT);
      for (const el of items) fragment.append(el);
      this.feed.prepend(fragment);
      while (this.feed.children.length > FEED_LIMIT) this.feed.lastElementChild!.remove();
    });
  }

  // --- actions -------------------------------------------------------------------------------

  private show(text: string, error = false): void {
    this.result.textContent = text;
    this.result.className = `action-result ${error ? 'error' : 'success'}`;
  }

  private select(row: RosterRow): void {
    this.selected = row;
    this.renderSelected();
  }

  private selectedFrame = 0;
  private renderSelectedSoon(): void {
    if (this.selectedFrame) return;
    this.selectedFrame = requestAnimationFrame(() => {
      this.selectedFrame = 0;
      this.renderSelected(true);
    });
  }

  /** `keepInputs`: a live update re-renders only the facts, not what the invigilator is typing. */
  private renderSelected(keepInputs = false): void {
    const r = this.selected;
    if (!r) {
      mount(this.selectedBox, h('p', { class: 'muted' }, 'Choose a student in the table to extend their time, message them or end their attempt.'));
      return;
    }
    const facts = `${r.student.name} · ${r.answered} of ${r.total} answered · ${r.flags} flag${r.flags === 1 ? '' : 's'} · ${r.connected ? 'connected' : 'not connected'}`;
    const existing = document.getElementById('selected-facts');
    if (keepInputs && existing) {
      existing.textContent = facts;
      return;
    }
    const active = r.status === 'in_progress' && r.attemptId !== null;
    const minutes = h('input', { id: 'student-extend-minutes', type: 'number', min: 1, max: 1440, value: 5, class: 'short' });
    const message = h('textarea', { id: 'student-message', rows: 2, maxlength: 2000 });
    const reason = h('input', { id: 'terminate-reason', type: 'text', maxlength: 500, value: 'Ended by the invigilator' });
    mount(
      this.selectedBox,
      h('p', { id: 'selected-facts' }, facts),
      active
        ? h(
            'div',
            { class: 'selected-actions' },
            h(
              'div',
              { class: 'field inline' },
              h('label', { for: 'student-extend-minutes' }, 'Minutes'),
              minutes,
              h('button', { type: 'button', id: 'student-extend', onclick: () => void this.extend(Number(minutes.value)) }, 'Extend time'),
            ),
            h('div', { class: 'field' }, h('label', { for: 'student-message' }, 'Message'), message),
            h('button', { type: 'button', id: 'student-send-message', onclick: () => void this.message(message) }, 'Send message'),
            h('div', { class: 'field' }, h('label', { for: 'terminate-reason' }, 'Reason for ending'), reason),
            h(
              'div',
              { class: 'actions' },
              h('button', { type: 'button', id: 'student-force-submit', onclick: () => void this.forceSubmit() }, 'Force-submit'),
              h('button', { type: 'button', id: 'student-terminate', class: 'danger', onclick: () => void this.terminate(reason.value) }, 'Terminate'),
            ),
          )
        : h('p', { class: 'muted' }, r.status === 'not_started' ? 'This student has not started yet.' : 'This attempt has ended.'),
    );
  }

  /** Confirm, run, and say how it went (the error's message if refused). */
  private async act(confirm: { title: string; message: string; confirmLabel: string; danger?: boolean }, run: () => Promise<string>): Promise<void> {
    if (!(await confirmDialog(confirm))) return;
    try {
      this.show(await run());
    } catch (err) {
      this.show(`${confirm.confirmLabel} failed: ${(err as Error).message}`, true);
    }
  }

  private validMinutes(m: number): boolean {
    if (Number.isInteger(m) && m >= 1 && m <= 1440) return true;
    this.show('Enter a whole number of minutes between 1 and 1440.', true);
    return false;
  }

  private async extend(minutes: number): Promise<void> {
    const r = this.selected;
    if (!r?.attemptId || !this.validMinutes(minutes)) return;
    const attemptId = r.attemptId;
    await this.act(
      { title: 'Extend time?', message: `Give ${r.student.name} ${minutes} more minute${minutes === 1 ? '' : 's'}?`, confirmLabel: 'Extend time' },
      async () => {
        const res = await request(this.socket, INVIGILATOR_EVENTS.extendAttempt, { attemptId, seconds: minutes * 60, requestId: requestId() });
        return `${r.student.name} has ${minutes} more minute${minutes === 1 ? '' : 's'}: the new deadline is ${formatTime(res.deadlineAt)}.`;
      },
    );
  }

  private async message(input: HTMLTextAreaElement): Promise<void> {
    const r = this.selected;
    const text = input.value.trim();
    if (!r?.attemptId) return;
    if (!text) return this.show('Write a message first.', true);
    const attemptId = r.attemptId;
    await this.act({ title: 'Send message?', message: `Send to ${r.student.name}: “${text}”`, confirmLabel: 'Send message' }, async () => {
      await request(this.socket, INVIGILATOR_EVENTS.message, { attemptId, text, requestId: requestId() });
      input.value = '';
      return `Message sent to ${r.student.name}.`;
    });
  }

  private async forceSubmit(): Promise<void> {
    const r = this.selected;
    if (!r?.attemptId) return;
    const attemptId = r.attemptId;
    await this.act(
      { title: 'Force-submit?', message: `Submit ${r.student.name}'s exam now, with the answers saved so far?`, confirmLabel: 'Force-submit', danger: true },
      async () => {
        const res = await request(this.socket, INVIGILATOR_EVENTS.forceSubmit, { attemptId, requestId: requestId() });
        return `${r.student.name}'s exam was submitted (score ${res.attempt.score ?? '?'} of ${res.attempt.maxScore ?? '?'}).`;
      },
    );
  }

  private async terminate(reasonText: string): Promise<void> {
    const r = this.selected;
    if (!r?.attemptId) return;
    const reason = reasonText.trim();
    if (!reason) return this.show('Give a reason for ending the attempt.', true);
    const attemptId = r.attemptId;
    await this.act(
      { title: 'Terminate attempt?', message: `End ${r.student.name}'s attempt now (reason: “${reason}”)? This cannot be undone.`, confirmLabel: 'Terminate', danger: true },
      async () => {
        await request(this.socket, INVIGILATOR_EVENTS.terminate, { attemptId, reason, requestId: requestId() });
        return `${r.student.name}'s attempt was terminated.`;
      },
    );
  }

  private async extendAll(minutes: number): Promise<void> {
    if (!this.validMinutes(minutes)) return;
    await this.act(
      { title: 'Extend everyone?', message: `Give every student still working ${minutes} more minute${minutes === 1 ? '' : 's'}?`, confirmLabel: 'Extend everyone' },
      async () => {
        const res = await request(this.socket, INVIGILATOR_EVENTS.extendExam, { examId: this.exam.id, seconds: minutes * 60, requestId: requestId() });
        return `${res.extended} attempt${res.extended === 1 ? '' : 's'} extended by ${minutes} minute${minutes === 1 ? '' : 's'}.`;
      },
    );
  }

  private async announce(input: HTMLTextAreaElement): Promise<void> {
    const text = input.value.trim();
    if (!text) return this.show('Write the announcement first.', true);
    await this.act({ title: 'Announce?', message: `Send to every student of this exam: “${text}”`, confirmLabel: 'Announce' }, async () => {
      await request(this.socket, INVIGILATOR_EVENTS.announce, { examId: this.exam.id, text, requestId: requestId() });
      input.value = '';
      return 'Announcement sent.';
    });
  }

  // --- results -------------------------------------------------------------------------------

  private refreshResultsSoon(): void {
    if (this.resultsTimer) return;
    this.resultsTimer = setTimeout(() => {
      this.resultsTimer = null;
      void this.loadResults();
    }, 2000);
  }

  private async loadResults(): Promise<void> {
    this.resultsShown = true;
    let data: ExamResultsBody;
    try {
      data = await api<ExamResultsBody>(`/api/exams/${this.exam.id}/results`, { token: this.session.token });
    } catch (err) {
      mount(this.resultsBox, h('p', { class: 'error', role: 'alert' }, `The results could not be loaded: ${(err as Error).message}`));
      return;
    }
    const ended = data.results.filter((r) => r.status !== 'not_started' && r.status !== 'in_progress');
    mount(
      this.resultsBox,
      h('p', { class: 'muted' }, `${ended.length} of ${data.results.length} attempts have ended.`),
      h(
        'div',
        { class: 'table-scroll short-table' },
        h(
          'table',
          { class: 'results', id: 'results-table' },
          h('caption', { class: 'sr-only' }, 'Results per student'),
          h('thead', {}, h('tr', {}, ...['Student', 'E-mail', 'Status', 'Score', 'Answered', 'Submitted'].map((t) => h('th', { scope: 'col' }, t)))),
          h(
            'tbody',
            {},
            ...data.results.map((r) =>
              h(
                'tr',
                {},
                h('th', { scope: 'row' }, r.student.name),
                h('td', {}, r.student.email),
                h('td', {}, r.status.replace('_', ' ')),
                h('td', { class: 'num' }, r.score === null ? '—' : `${r.score} / ${r.maxScore ?? '?'}`),
                h('td', { class: 'num' }, r.answered),
                h('td', {}, formatDateTime(r.submittedAt)),
              ),
            ),
          ),
        ),
      ),
    );
  }

  private async downloadCsv(): Promise<void> {
    try {
      await downloadWithToken(`/api/exams/${this.exam.id}/results?format=csv`, this.session.token, `exam-${this.exam.id}-results.csv`);
      this.show('The CSV file was downloaded.');
    } catch (err) {
      this.show(`The CSV could not be downloaded: ${(err as Error).message}`, true);
    }
  }
}

// ---------------------------------------------------------------------------------------------

async function boot(): Promise<void> {
  let session = store.load();
  if (!session) {
    mount(statusArea);
    session = await showLogin(main, {
      title: 'Invigilator sign-in',
      roles: ['invigilator', 'admin'],
      hint: 'Sign in with your invigilator (or administrator) account.',
    });
    store.save(session);
  }
  const examId = Number(/^#exam=(\d+)$/.exec(location.hash)?.[1]);
  if (Number.isInteger(examId) && examId > 0) {
    try {
      const { exams } = await api<{ exams: ExamSummary[] }>('/api/exams', { token: session.token });
      const exam = exams.find((e) => e.id === examId);
      if (exam) return openConsole(session, exam);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return signOut();
    }
  }
  await showExams(session);
}

void boot();
