import { io, type Socket } from 'socket.io-client';
import {
  EXAM_EVENTS,
} from '../../../server/protocol-names.js';
import type {
  AttemptEndedEvent,
  AttemptStartResult,
  ExamClientToServerEvents,
  ExamServerToClientEvents,
  MessageEvent,
  ProctorEventType,
  StudentExamView,
  SubmitResult,
  TimerEvent,
} from '../../../server/protocol.js';
import { api, ApiError } from '../lib/api.js';
import { confirmDialog } from '../lib/dialog.js';
import { byId, formatDateTime, formatDuration, formatTime, h, mount } from '../lib/dom.js';
import { showLogin } from '../lib/login.js';
import { ServerClock } from '../lib/server-clock.js';
import { SessionStore, type Session } from '../lib/session.js';
import type { AttemptResultBody, ExamSummary, MyAttempt } from '../lib/types.js';
import { Outbox } from './outbox.js';
import { ProctorSignals } from './proctor.js';

type ExamSocket = Socket<ExamServerToClientEvents, ExamClientToServerEvents>;
type Question = StudentExamView['sections'][number]['questions'][number];

const ACK_TIMEOUT_MS = 10_000;
/** Screen readers hear the time left only when it crosses these (5 and 1 minutes). */
const ANNOUNCE_AT_MS = [5 * 60_000, 60_000];

const store = new SessionStore('exam.student.session');
const main = byId('main');
const statusArea = byId('status-area');

// ---------------------------------------------------------------------------------------------
// Exam list

type ExamState = 'not_open' | 'open' | 'closed' | 'in_progress' | 'finished';

function stateOf(exam: ExamSummary, attempt: MyAttempt | undefined, serverNow: number): ExamState {
  if (attempt) return attempt.status === 'in_progress' ? 'in_progress' : 'finished';
  if (exam.opensAt && Date.parse(exam.opensAt) > serverNow) return 'not_open';
  if (exam.closesAt && Date.parse(exam.closesAt) <= serverNow) return 'closed';
  return 'open';
}

const STATE_LABEL: Record<ExamState, string> = {
  not_open: 'Not open yet',
  open: 'Open',
  closed: 'Closed',
  in_progress: 'In progress',
  finished: 'Finished',
};

function windowText(exam: ExamSummary): string {
  if (exam.opensAt && exam.closesAt) return `From ${formatDateTime(exam.opensAt)} to ${formatDateTime(exam.closesAt)}`;
  if (exam.opensAt) return `Opens ${formatDateTime(exam.opensAt)}`;
  if (exam.closesAt) return `Closes ${formatDateTime(exam.closesAt)}`;
  return 'No fixed time window';
}

async function showList(session: Session, notice?: string): Promise<void> {
  history.replaceState(null, '', location.pathname);
  mount(statusArea, signOutButton());
  mount(main, h('p', {}, 'Loading your exams…'));
  let exams: ExamSummary[];
  let mine: { serverNow: string; attempts: MyAttempt[] };
  try {
    [{ exams }, mine] = await Promise.all([
      api<{ exams: ExamSummary[] }>('/api/exams', { token: session.token }),
      api<{ serverNow: string; attempts: MyAttempt[] }>('/api/attempts', { token: session.token }),
    ]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signOut();
    mount(
      main,
      h('p', { class: 'error', role: 'alert' }, `Your exams could not be loaded: ${(err as Error).message}`),
      h('button', { type: 'button', onclick: () => void showList(session) }, 'Try again'),
    );
    return;
  }
  const serverNow = Date.parse(mine.serverNow);
  const byExam = new Map(mine.attempts.map((a) => [a.examId, a]));
  const items = exams.map((exam) => {
    const attempt = byExam.get(exam.id);
    const state = stateOf(exam, attempt, serverNow);
    let action: HTMLElement;
    if (state === 'open' || state === 'in_progress') {
      action = h('button', { type: 'button', class: 'primary', onclick: () => openExam(session, exam.id) }, state === 'open' ? 'Start exam' : 'Resume exam');
    } else if (state === 'finished' && attempt) {
      action = h(
        'button',
        { type: 'button', onclick: () => void showEnd(session, { attemptId: attempt.id, status: attempt.status, reason: '' }, exam.title) },
        'View result',
      );
    } else {
      action = h('span', { class: 'muted' }, state === 'not_open' ? 'You can start once it opens.' : 'This exam has closed.');
    }
    return h(
      'li',
      { class: 'card exam-item' },
      h('div', {}, h('h2', {}, exam.title), h('p', { class: 'muted' }, `${windowText(exam)} · ${Math.round(exam.durationSeconds / 60)} minutes`)),
      h('span', { class: `badge state-${state}` }, STATE_LABEL[state]),
      action,
    );
  });
  mount(
    main,
    h('h1', {}, 'Your exams'),
    h('p', { class: 'muted' }, `Signed in as ${session.user.name} (${session.user.email})`),
    notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
    items.length ? h('ul', { class: 'plain exam-list' }, ...items) : h('p', {}, 'You are not enrolled in any published exam.'),
  );
}

function signOutButton(): HTMLElement {
  return h('button', { type: 'button', class: 'link', onclick: () => signOut() }, 'Sign out');
}

let current: ExamSession | null = null;

function signOut(): void {
  current?.close();
  current = null;
  store.clear();
  history.replaceState(null, '', location.pathname);
  void boot();
}

function openExam(session: Session, examId: number): void {
  history.replaceState(null, '', `${location.pathname}#exam=${examId}`);
  current?.close();
  current = new ExamSession(session, examId);
}

// ---------------------------------------------------------------------------------------------
// The exam

interface SavedAnswer {
  optionId: number | null;
  seq: number;
}

type Connection = 'connecting' | 'online' | 'reconnecting' | 'offline';

/**
 * One sitting of one exam: the socket, the server clock, the answers (acknowledged ones and the
 * outbox), the proctoring signals and the view. Every (re)connect starts with `attempt:start`, which
 * returns the database's state, and then re-sends the outbox.
 */
class ExamSession {
  private readonly socket: ExamSocket;
  private readonly clock = new ServerClock();
  private readonly outbox: Outbox;
  private readonly proctor: ProctorSignals;
  private readonly saved = new Map<number, SavedAnswer>();
  private readonly refused = new Map<number, string>();
  private readonly inFlight = new Map<number, number>();
  private readonly flagged = new Set<number>();
  private readonly proctorQueue: { type: ProctorEventType; detail?: Record<string, string | number | boolean | null> }[] = [];
  private attemptId: number | null = null;
  private exam: StudentExamView | null = null;
  private questions: (Question & { section: string; number: number })[] = [];
  private deadlineAt = 0;
  private index = 0;
  private connection: Connection = 'connecting';
  private ready = false;
  private submitting = false;
  private ended = false;
  private lastRemaining: number | null = null;
  private tickTimer: ReturnType<typeof setInterval> | null = null;
  private retryTimers = new Set<ReturnType<typeof setTimeout>>();
  private readonly controller = new AbortController();
  private messages: MessageEvent[] = [];
  private view: ExamView | null = null;

  constructor(
    private readonly session: Session,
    private readonly examId: number,
  ) {
    this.outbox = new Outbox(`exam.outbox.${session.user.id}.${examId}`);
    this.outbox.onChange(() => this.renderStatus());
    this.messages = this.loadMessages();
    mount(main, h('p', {}, 'Connecting to the exam…'));
    mount(statusArea, h('span', { id: 'connection', class: 'conn', role: 'status' }, 'Connecting…'));
    this.socket = io('/exam', { auth: { token: session.token }, transports: ['websocket'], reconnectionDelayMax: 5000 });
    this.proctor = new ProctorSignals((type, detail) => this.sendProctor(type, detail));
    this.wireSocket();
    const signal = this.controller.signal;
    // The browser knows before the socket does: go offline at once, come back at once.
    window.addEventListener('offline', () => this.goOffline(), { signal });
    window.addEventListener('online', () => this.goOnline(), { signal });
    if (!navigator.onLine) this.goOffline();
  }

  close(): void {
    this.controller.abort();
    this.proctor.stop();
    if (this.tickTimer) clearInterval(this.tickTimer);
    for (const t of this.retryTimers) clearTimeout(t);
    this.socket.removeAllListeners();
    this.socket.io.removeAllListeners();
    this.socket.disconnect();
  }

  // --- connection --------------------------------------------------------------------------

  private wireSocket(): void {
    const s = this.socket;
    s.on('connect', () => this.start());
    s.on('disconnect', (reason) => {
      this.ready = false;
      this.inFlight.clear();
      if (this.connection !== 'offline') this.setConnection('reconnecting');
      // The server closed this connection (e.g. a restart): Socket.IO does not retry that by itself.
      if (reason === 'io server disconnect' && !this.ended) s.connect();
    });
    s.on('connect_error', (err) => {
      if (err.message === 'UNAUTHORIZED') {
        this.close();
        store.clear();
        void boot('Your session has expired: please sign in again. Answers not yet saved are kept and sent once you are back.');
        return;
      }
      if (this.connection !== 'offline') this.setConnection('reconnecting');
    });
    s.on(EXAM_EVENTS.timer, (ev) => this.onTimer(ev));
    s.on(EXAM_EVENTS.message, (ev) => this.onMessage(ev));
    s.on(EXAM_EVENTS.ended, (ev) => {
      if (ev.attemptId === this.attemptId) void this.finish(ev);
    });
  }

  private goOffline(): void {
    if (this.ended) return;
    this.setConnection('offline');
    this.socket.disconnect();
  }

  private goOnline(): void {
    if (this.ended || this.socket.connected) return;
    this.setConnection('reconnecting');
    this.socket.connect();
  }

  private setConnection(c: Connection): void {
    this.connection = c;
    this.renderStatus();
  }

  private start(): void {
    this.socket.timeout(ACK_TIMEOUT_MS).emit(EXAM_EVENTS.start, { examId: this.examId }, (err, res) => {
      if (err) {
        // No answer in time: try again while still connected.
        if (this.socket.connected) this.later(1000, () => this.start());
        return;
      }
      if (!res.ok) return this.startRefused(ApiError.from(res.error));
      this.started(res);
    });
  }

  private startRefused(err: ApiError): void {
    if (err.code === 'ATTEMPT_CLOSED') {
      void this.finish({ attemptId: this.attemptId ?? 0, status: 'submitted', reason: '' });
      return;
    }
    if (err.retryAfterMs !== undefined) {
      this.later(err.retryAfterMs, () => this.start());
      return;
    }
    this.close();
    current = null;
    void showList(this.session, `The exam could not be opened: ${err.message}`);
  }

  private started(res: AttemptStartResult): void {
    const first = this.exam === null;
    this.attemptId = res.attempt.id;
    this.clock.sync(res.attempt.serverNow);
    this.deadlineAt = Date.parse(res.attempt.deadlineAt);
    this.exam = res.exam;
    this.questions = res.exam.sections.flatMap((s) => s.questions.map((q) => ({ ...q, section: s.title, number: 0 })));
    this.questions.forEach((q, i) => (q.number = i + 1));
    const known = new Set(this.questions.map((q) => q.id));
    for (const a of res.answers) {
      const prev = this.saved.get(a.questionId);
      if (!prev || prev.seq <= a.seq) this.saved.set(a.questionId, { optionId: a.optionId, seq: a.seq });
      this.outbox.acknowledge(a.questionId, a.seq);
    }
    // An outbox entry for a question this exam does not have (it was edited) can never be saved.
    for (const [q] of this.outbox.entries()) if (!known.has(q)) this.outbox.drop(q);
    this.loadFlags();
    this.ready = true;
    this.setConnection('online');
    if (first) {
      this.view = new ExamView(this);
      this.proctor.start();
      this.tickTimer = setInterval(() => this.tick(), 250);
    }
    this.view?.render();
    this.tick();
    this.flushOutbox();
    this.flushProctor();
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.retryTimers.delete(t);
      if (!this.ended) fn();
    }, ms);
    this.retryTimers.add(t);
  }

  // --- answers -----------------------------------------------------------------------------

  /** The option shown as chosen: the latest given, acknowledged or not. */
  chosen(questionId: number): number | null {
    const p = this.outbox.get(questionId);
    if (p) return p.optionId;
    return this.saved.get(questionId)?.optionId ?? null;
  }

  saveState(questionId: number): { kind: 'saved' | 'pending' | 'queued' | 'refused' | 'none'; text: string } {
    const refused = this.refused.get(questionId);
    if (refused) return { kind: 'refused', text: `Not saved: ${refused}` };
    if (this.outbox.get(questionId)) {
      return this.ready
        ? { kind: 'pending', text: 'Saving…' }
        : { kind: 'queued', text: 'Queued: it will be saved when the connection is back' };
    }
    if (this.saved.has(questionId)) return { kind: 'saved', text: 'Saved' };
    return { kind: 'none', text: 'Not answered yet' };
  }

  answer(questionId: number, optionId: number | null): void {
    if (this.ended || this.submitting) return;
    const seq = Math.max(this.saved.get(questionId)?.seq ?? 0, this.outbox.get(questionId)?.seq ?? 0) + 1;
    this.refused.delete(questionId);
    this.outbox.put(questionId, { optionId, seq });
    this.send(questionId);
    this.view?.answerChanged(questionId);
  }

  private flushOutbox(): void {
    for (const [q] of this.outbox.entries()) this.send(q);
  }

  private send(questionId: number): void {
    const p = this.outbox.get(questionId);
    if (!p || !this.ready || this.attemptId === null) return;
    if (this.inFlight.get(questionId) === p.seq) return;
    this.inFlight.set(questionId, p.seq);
    const payload = { attemptId: this.attemptId, questionId, optionId: p.optionId, seq: p.seq };
    this.socket.timeout(ACK_TIMEOUT_MS).emit(EXAM_EVENTS.answer, payload, (err, res) => {
      if (this.inFlight.get(questionId) === p.seq) this.inFlight.delete(questionId);
      if (err) {
        // No ack in time: still in the outbox; send again (a replay is harmless).
        this.later(1000, () => this.send(questionId));
        return;
      }
      if (res.ok) {
        const prev = this.saved.get(questionId);
        if (!prev || prev.seq <= p.seq) this.saved.set(questionId, { optionId: p.optionId, seq: p.seq });
        this.outbox.acknowledge(questionId, p.seq);
      } else if (res.error.retryAfterMs !== undefined) {
        this.later(res.error.retryAfterMs, () => this.send(questionId));
        return;
      } else {
        // Refused for good (the deadline passed, the attempt ended): it can never be saved.
        this.refused.set(questionId, res.error.message);
        this.outbox.drop(questionId);
      }
      this.view?.answerChanged(questionId);
    });
  }

  // --- review flags (this browser only: a note to oneself, not sent) -------------------------

  private flagsKey(): string {
    return `exam.flags.${this.session.user.id}.${this.attemptId}`;
  }

  private loadFlags(): void {
    try {
      const ids = JSON.parse(localStorage.getItem(this.flagsKey()) ?? '[]') as number[];
      for (const id of ids) this.flagged.add(id);
    } catch {
      // ignore a corrupt entry
    }
  }

  isFlagged(questionId: number): boolean {
    return this.flagged.has(questionId);
  }

  toggleFlag(questionId: number): void {
    if (this.flagged.has(questionId)) this.flagged.delete(questionId);
    else this.flagged.add(questionId);
    localStorage.setItem(this.flagsKey(), JSON.stringify([...this.flagged]));
    this.view?.answerChanged(questionId);
  }

  // --- clock ---------------------------------------------------------------------------------

  private onTimer(ev: TimerEvent): void {
    if (ev.attemptId !== this.attemptId) return;
    this.clock.sync(ev.serverNow);
    const before = this.deadlineAt;
    this.deadlineAt = Date.parse(ev.deadlineAt);
    if (ev.reason === 'change' && this.deadlineAt !== before) {
      const minutes = Math.round((this.deadlineAt - before) / 60_000);
      this.onMessage({
        text: minutes >= 0 ? `Your time was extended by ${minutes} minute${minutes === 1 ? '' : 's'}.` : 'Your deadline was changed.',
        from: 'Exam server',
        at: new Date(this.clock.now() ?? this.deadlineAt).toISOString(),
      });
      // A change may move the time back above a threshold: it can be announced again when crossed.
      this.lastRemaining = null;
    }
    this.tick();
  }

  remainingMs(): number {
    return Math.max(0, this.clock.remaining(this.deadlineAt) ?? 0);
  }

  private tick(): void {
    if (!this.view) return;
    const remaining = this.remainingMs();
    this.view.renderTimer(remaining);
    const last = this.lastRemaining;
    this.lastRemaining = remaining;
    if (last === null) return;
    for (const t of ANNOUNCE_AT_MS) {
      if (last > t && remaining <= t) this.view.announce(`${t / 60_000} minute${t === 60_000 ? '' : 's'} left.`);
    }
  }

  // --- messages ----------------------------------------------------------------------------

  private messagesKey(): string {
    return `exam.messages.${this.session.user.id}.${this.examId}`;
  }

  private loadMessages(): MessageEvent[] {
    try {
      return JSON.parse(localStorage.getItem(this.messagesKey()) ?? '[]') as MessageEvent[];
    } catch {
      return [];
    }
  }

  private onMessage(ev: MessageEvent): void {
    this.messages = [ev, ...this.messages].slice(0, 50);
    localStorage.setItem(this.messagesKey(), JSON.stringify(this.messages));
    this.view?.renderMessages();
  }

  get messageList(): readonly MessageEvent[] {
    return this.messages;
  }

  // --- proctoring --------------------------------------------------------------------------

  private sendProctor(type: ProctorEventType, detail?: Record<string, string | number | boolean | null>): void {
    if (this.ended) return;
    if (!this.ready || this.attemptId === null) {
      // Told once the connection is back (the invigilators should know about an offline spell too).
      if (this.proctorQueue.length < 20) this.proctorQueue.push(detail ? { type, detail } : { type });
      return;
    }
    const payload = detail ? { attemptId: this.attemptId, type, detail } : { attemptId: this.attemptId, type };
    this.socket.timeout(ACK_TIMEOUT_MS).emit(EXAM_EVENTS.proctor, payload, () => undefined);
  }

  private flushProctor(): void {
    for (const e of this.proctorQueue.splice(0)) this.sendProctor(e.type, e.detail);
  }

  // --- submit and the end ------------------------------------------------------------------

  get questionList(): readonly (Question & { section: string; number: number })[] {
    return this.questions;
  }

  get title(): string {
    return this.exam?.title ?? '';
  }

  get current(): number {
    return this.index;
  }

  get isSubmitting(): boolean {
    return this.submitting;
  }

  goTo(i: number): void {
    if (i < 0 || i >= this.questions.length) return;
    this.index = i;
    this.view?.render();
  }

  unanswered(): number {
    return this.questions.filter((q) => this.chosen(q.id) === null).length;
  }

  async submit(): Promise<void> {
    if (this.submitting || this.ended || this.attemptId === null) return;
    const unanswered = this.unanswered();
    const ok = await confirmDialog({
      title: 'Submit your exam?',
      message:
        (unanswered === 0
          ? 'You have answered every question.'
          : `${unanswered} of ${this.questions.length} question${this.questions.length === 1 ? ' is' : 's are'} unanswered.`) +
        ' Once submitted, you cannot change your answers.',
      confirmLabel: 'Submit exam',
    });
    if (!ok || this.ended) return;
    this.submitting = true;
    this.renderStatus();
    this.view?.render();
    // Every answer given before the submit must be in the score: wait for their acks first.
    await this.outbox.drained();
    if (this.ended) return;
    this.emitSubmit();
  }

  private emitSubmit(): void {
    if (this.ended || this.attemptId === null) return;
    if (!this.ready) {
      this.later(500, () => this.emitSubmit());
      return;
    }
    this.socket.timeout(ACK_TIMEOUT_MS).emit(EXAM_EVENTS.submit, { attemptId: this.attemptId }, (err, res) => {
      if (err) return this.later(1000, () => this.emitSubmit());
      if (res.ok) return void this.finish({ attemptId: res.attempt.id, status: res.attempt.status, reason: 'submitted' }, res);
      if (res.error.retryAfterMs !== undefined) return this.later(res.error.retryAfterMs, () => this.emitSubmit());
      if (res.error.code === 'ATTEMPT_CLOSED') return void this.finish({ attemptId: this.attemptId!, status: 'submitted', reason: '' });
      this.submitting = false;
      this.view?.render();
      this.view?.announce(`The exam could not be submitted: ${res.error.message}`);
    });
  }

  private async finish(ev: AttemptEndedEvent, submitted?: SubmitResult): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const lost = this.outbox.size;
    const attemptId = ev.attemptId || this.attemptId || 0;
    this.outbox.discard();
    localStorage.removeItem(this.messagesKey());
    this.close();
    current = null;
    await showEnd(this.session, { ...ev, attemptId }, this.title, { lost, submitted, messages: this.messages, examId: this.examId });
  }

  renderStatus(): void {
    const el = document.getElementById('connection');
    if (!el) return;
    const n = this.outbox.size;
    const queued = n === 0 ? '' : ` · ${n} answer${n === 1 ? '' : 's'} ${this.ready ? 'being saved' : 'queued'}`;
    const text =
      this.connection === 'online'
        ? `Online${queued}`
        : this.connection === 'offline'
          ? `Offline${queued || ' · nothing queued'}`
          : this.connection === 'reconnecting'
            ? `Reconnecting…${queued}`
            : 'Connecting…';
    el.textContent = this.submitting ? `${text} · submitting` : text;
    el.className = `conn conn-${this.connection}`;
    el.dataset.queued = String(n);
  }
}

/** The exam's DOM: built once, then only the parts that changed are touched. */
class ExamView {
  private readonly timer = h('div', { id: 'timer', class: 'timer', role: 'timer' });
  private readonly announcer = h('div', { id: 'timer-announcer', class: 'sr-only', 'aria-live': 'assertive', 'aria-atomic': 'true' });
  private readonly nav = h('ol', { class: 'navigator plain' });
  private readonly question = h('section', { id: 'question', class: 'question card', 'aria-labelledby': 'question-title' });
  private readonly messages = h('ol', { id: 'messages', class: 'plain messages' });
  private readonly messagesBox = h(
    'section',
    { class: 'messages-box', 'aria-labelledby': 'messages-title', hidden: true },
    h('h2', { id: 'messages-title' }, 'Messages from the invigilators'),
    this.messages,
  );
  private readonly live = h('div', { class: 'sr-only', 'aria-live': 'polite', id: 'messages-live' });
  private navButtons: HTMLButtonElement[] = [];
  private timerText = '';

  constructor(private readonly s: ExamSession) {
    const conn = byId('connection');
    mount(statusArea, this.timer, conn, this.announcer);
    const submit = h('button', { type: 'button', id: 'submit-exam', class: 'primary', onclick: () => void s.submit() }, 'Submit exam');
    const fullscreen = h(
      'button',
      {
        type: 'button',
        onclick: () => {
          if (document.fullscreenElement) void document.exitFullscreen();
          else void document.documentElement.requestFullscreen().catch(() => undefined);
        },
      },
      'Full screen',
    );
    mount(
      main,
      h(
        'div',
        { class: 'exam-layout' },
        h(
          'aside',
          { class: 'sidebar', 'aria-labelledby': 'nav-title' },
          h('h2', { id: 'nav-title' }, 'Questions'),
          h(
            'p',
            { class: 'legend muted' },
            h('span', { class: 'legend-item' }, h('span', { class: 'swatch answered' }), ' answered'),
            h('span', { class: 'legend-item' }, h('span', { class: 'swatch flagged' }), ' flagged for review'),
          ),
          this.nav,
          h('div', { class: 'sidebar-actions' }, submit, fullscreen),
        ),
        h('div', { class: 'exam-main' }, h('h1', { class: 'exam-title' }, s.title), this.messagesBox, this.question),
      ),
      this.live,
    );
    this.buildNavigator();
    this.renderMessages(false);
  }

  private buildNavigator(): void {
    let section = '';
    const items: HTMLElement[] = [];
    this.navButtons = this.s.questionList.map((q, i) => {
      if (q.section !== section) {
        section = q.section;
        items.push(h('li', { class: 'nav-section' }, section));
      }
      const b = h('button', { type: 'button', class: 'nav-q', onclick: () => this.s.goTo(i) }, String(q.number), h('span', { class: 'sr-only' }));
      items.push(h('li', {}, b));
      return b;
    });
    mount(this.nav, ...items);
  }

  render(): void {
    if (this.navButtons.length !== this.s.questionList.length) this.buildNavigator();
    this.s.questionList.forEach((q) => this.updateNav(q.id));
    this.renderQuestion();
  }

  private updateNav(questionId: number): void {
    const i = this.s.questionList.findIndex((q) => q.id === questionId);
    const b = this.navButtons[i];
    if (!b) return;
    const answered = this.s.chosen(questionId) !== null;
    const flagged = this.s.isFlagged(questionId);
    b.classList.toggle('answered', answered);
    b.classList.toggle('flagged', flagged);
    if (i === this.s.current) b.setAttribute('aria-current', 'step');
    else b.removeAttribute('aria-current');
    const state = [answered ? 'answered' : 'not answered', flagged ? 'flagged for review' : ''].filter(Boolean).join(', ');
    b.lastElementChild!.textContent = `, ${state}`;
  }

  private renderQuestion(): void {
    const list = this.s.questionList;
    const q = list[this.s.current];
    if (!q) return;
    const disabled = this.s.isSubmitting;
    const chosen = this.s.chosen(q.id);
    const options = q.options.map((o, i) =>
      h(
        'label',
        { class: 'option' },
        h('input', {
          type: 'radio',
          name: `q-${q.id}`,
          value: o.id,
          checked: chosen === o.id,
          disabled,
          onchange: () => this.s.answer(q.id, o.id),
        }),
        h('span', { class: 'option-letter', 'aria-hidden': 'true' }, String.fromCharCode(65 + i)),
        h('span', { class: 'option-text' }, o.text),
      ),
    );
    const save = this.s.saveState(q.id);
    mount(
      this.question,
      h('p', { class: 'muted section-name' }, `${q.section} · Question ${q.number} of ${list.length} · ${q.points} point${q.points === 1 ? '' : 's'}`),
      h(
        'fieldset',
        { class: 'options' },
        h('legend', { id: 'question-title', class: 'question-text' }, q.text),
        ...options,
      ),
      h(
        'div',
        { class: 'question-tools' },
        h('p', { id: 'save-state', class: `save-state save-${save.kind}`, role: 'status', 'data-state': save.kind }, save.text),
        h(
          'button',
          { type: 'button', id: 'clear-answer', disabled: disabled || chosen === null, onclick: () => this.s.answer(q.id, null) },
          'Clear answer',
        ),
        h(
          'button',
          { type: 'button', id: 'flag-question', 'aria-pressed': String(this.s.isFlagged(q.id)), onclick: () => this.s.toggleFlag(q.id) },
          'Flag for review',
        ),
      ),
      h(
        'div',
        { class: 'pager' },
        h('button', { type: 'button', id: 'prev-question', disabled: this.s.current === 0, onclick: () => this.move(-1) }, 'Previous'),
        h('button', { type: 'button', id: 'next-question', disabled: this.s.current === list.length - 1, onclick: () => this.move(1) }, 'Next'),
      ),
      this.s.isSubmitting ? h('p', { class: 'notice', role: 'status' }, 'Submitting: waiting for every answer to be saved…') : null,
    );
  }

  private move(delta: number): void {
    this.s.goTo(this.s.current + delta);
    // Keep the keyboard where it was (the buttons were rebuilt): on the same pager button, or its sibling at an end.
    const next = document.getElementById(delta > 0 ? 'next-question' : 'prev-question') as HTMLButtonElement | null;
    const other = document.getElementById(delta > 0 ? 'prev-question' : 'next-question') as HTMLButtonElement | null;
    (next && !next.disabled ? next : other)?.focus();
  }

  /** An answer or a flag changed: its navigator entry and, if it is on screen, the question's controls. */
  answerChanged(questionId: number): void {
    this.updateNav(questionId);
    const q = this.s.questionList[this.s.current];
    if (q?.id !== questionId) return;
    const save = this.s.saveState(q.id);
    const el = document.getElementById('save-state');
    if (el) {
      el.textContent = save.text;
      el.className = `save-state save-${save.kind}`;
      el.dataset.state = save.kind;
    }
    const chosen = this.s.chosen(q.id);
    for (const input of this.question.querySelectorAll<HTMLInputElement>('input[type=radio]')) input.checked = Number(input.value) === chosen;
    const clear = document.getElementById('clear-answer') as HTMLButtonElement | null;
    if (clear) clear.disabled = this.s.isSubmitting || chosen === null;
    document.getElementById('flag-question')?.setAttribute('aria-pressed', String(this.s.isFlagged(q.id)));
  }

  renderTimer(remainingMs: number): void {
    // The exact figure (for tests and tools); the text changes once a second.
    this.timer.dataset.remainingMs = String(Math.round(remainingMs));
    const text = formatDuration(remainingMs);
    if (text === this.timerText) return;
    this.timerText = text;
    this.timer.textContent = `Time left ${text}`;
    this.timer.classList.toggle('low', remainingMs <= 5 * 60_000);
  }

  announce(text: string): void {
    this.announcer.textContent = text;
  }

  renderMessages(announce = true): void {
    const list = this.s.messageList;
    this.messagesBox.hidden = list.length === 0;
    mount(
      this.messages,
      ...list.map((m) => h('li', { class: 'message' }, h('span', { class: 'muted' }, `${formatTime(m.at)} · ${m.from}: `), m.text)),
    );
    const latest = list[0];
    if (announce && latest) this.live.textContent = `Message from ${latest.from}: ${latest.text}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The end screen

const REASONS: Record<string, string> = {
  submitted: 'You submitted your exam.',
  deadline: 'The time ran out: your saved answers were submitted automatically.',
  forced: 'An invigilator submitted your exam.',
};

async function showEnd(
  session: Session,
  ev: AttemptEndedEvent,
  title: string,
  extra: { lost?: number; submitted?: SubmitResult | undefined; messages?: readonly MessageEvent[]; examId?: number } = {},
): Promise<void> {
  history.replaceState(null, '', location.pathname);
  mount(statusArea, signOutButton());
  const why =
    ev.status === 'terminated'
      ? `An invigilator ended your exam${ev.reason && ev.reason !== 'terminated' ? `: ${ev.reason}` : '.'}`
      : ev.status === 'expired'
        ? 'The time ran out: your saved answers were submitted automatically.'
        : (REASONS[ev.reason] ?? 'Your exam has ended.');
  const score = h('p', { id: 'score', class: 'score' }, 'Loading your result…');
  const marking = h('p', { id: 'marking', class: 'muted' });
  mount(
    main,
    h(
      'section',
      { id: 'end-screen', class: 'card end', 'aria-labelledby': 'end-title' },
      h('h1', { id: 'end-title', tabindex: '-1' }, 'Your exam has ended'),
      title ? h('p', { class: 'muted' }, title) : null,
      h('p', { id: 'end-reason' }, why),
      score,
      marking,
      extra.lost ? h('p', { class: 'error' }, `${extra.lost} answer${extra.lost === 1 ? ' was' : 's were'} not saved in time.`) : null,
      extra.messages?.length
        ? h(
            'details',
            {},
            h('summary', {}, 'Messages from the invigilators'),
            h('ol', { class: 'plain messages' }, ...extra.messages.map((m) => h('li', {}, `${formatTime(m.at)} · ${m.from}: ${m.text}`))),
          )
        : null,
      h('button', { type: 'button', onclick: () => void showList(session) }, 'Back to your exams'),
    ),
  );
  document.getElementById('end-title')?.focus();
  const fromSubmit = extra.submitted?.attempt;
  if (fromSubmit?.score !== null && fromSubmit?.score !== undefined) {
    score.textContent = `Score: ${fromSubmit.score} of ${fromSubmit.maxScore ?? '?'} points`;
  }
  try {
    let attemptId = ev.attemptId;
    if (!attemptId && extra.examId !== undefined) {
      // Reopened after the attempt had ended (e.g. a reload): find it in the student's attempts.
      const { attempts } = await api<{ attempts: MyAttempt[] }>('/api/attempts', { token: session.token });
      attemptId = attempts.find((a) => a.examId === extra.examId)?.id ?? 0;
    }
    if (!attemptId) {
      score.textContent = '';
      return;
    }
    const result = await api<AttemptResultBody>(`/api/attempts/${attemptId}/result`, { token: session.token });
    score.textContent =
      result.attempt.score === null ? 'Your score is not available yet.' : `Score: ${result.attempt.score} of ${result.attempt.maxScore ?? '?'} points`;
    marking.textContent = markingText(result);
  } catch (err) {
    if (!score.textContent?.startsWith('Score:')) score.textContent = `Your score could not be loaded: ${(err as Error).message}`;
  }
}

/**
 * Which answers were right, once the exam's results-release rule allows it (`released`); until then the
 * score alone, and a word on when the marking comes.
 */
function markingText(result: AttemptResultBody): string {
  if (!result.released) return 'Which of your answers were right is shown here once the results are released.';
  const right = result.answers.filter((a) => a.correct).length;
  const answered = result.answers.filter((a) => a.optionId !== null).length;
  return `${right} of your ${answered} answer${answered === 1 ? ' was' : 's were'} right.`;
}

// ---------------------------------------------------------------------------------------------

async function boot(notice?: string): Promise<void> {
  let session = store.load();
  if (!session) {
    mount(statusArea);
    session = await showLogin(main, {
      title: 'Student sign-in',
      roles: ['student'],
      hint: notice ?? 'Sign in with the e-mail and password your exam centre gave you.',
    });
    store.save(session);
  }
  const examId = Number(/^#exam=(\d+)$/.exec(location.hash)?.[1]);
  if (Number.isInteger(examId) && examId > 0) openExam(session, examId);
  else await showList(session);
}

void boot();
