/**
 * The Consul double's time: an injectable clock, so tests can drive session
 * expiry and the end of blocking waits (`ManualClock`, or `effectClock` over a
 * `TestClock`) instead of sleeping.
 */
import { type Clock, Duration, Effect, Fiber } from "effect"

export interface DoubleClock {
  readonly now: () => number
  /** Calls `fire` once the clock reaches `at`; returns a cancel function. */
  readonly setTimer: (at: number, fire: () => void) => () => void
}

/** The wall clock. */
export const systemClock: DoubleClock = {
  now: () => Date.now(),
  setTimer: (at, fire) => {
    const handle = setTimeout(fire, Math.max(0, at - Date.now()))
    return () => clearTimeout(handle)
  }
}

/** A clock that moves only when told to. */
export class ManualClock implements DoubleClock {
  private current: number
  private timers: Array<{ at: number; seq: number; fire: () => void }> = []
  private seq = 0
  constructor(start = 1_700_000_000_000) {
    this.current = start
  }
  readonly now = (): number => this.current
  readonly setTimer = (at: number, fire: () => void): (() => void) => {
    const timer = { at, seq: this.seq++, fire }
    this.timers.push(timer)
    return () => {
      this.timers = this.timers.filter((t) => t !== timer)
    }
  }
  /** Moves time forward, firing every timer that falls due, in order. */
  advance(millis: number): void {
    const target = this.current + millis
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (due === undefined) break
      this.timers = this.timers.filter((t) => t !== due)
      this.current = Math.max(this.current, due.at)
      due.fire()
    }
    this.current = target
  }
  /** Timers still pending (blocking waits, session TTLs). */
  get pending(): number {
    return this.timers.length
  }
}

/**
 * A clock over an Effect `Clock` (say, the current test's `TestClock`), so
 * `TestClock.adjust` drives the double's session expiry and blocking waits.
 */
export const effectClock = (clock: Clock.Clock): DoubleClock => {
  const now = () => clock.unsafeCurrentTimeMillis()
  return {
    now,
    setTimer: (at, fire) => {
      const fiber = Effect.runFork(
        Effect.zipRight(clock.sleep(Duration.millis(Math.max(0, at - now()))), Effect.sync(fire))
      )
      return () => {
        Effect.runFork(Fiber.interrupt(fiber))
      }
    }
  }
}

/** A clock whose source can be swapped, for a double shared by tests that each have their own `TestClock`. */
export class SwitchableClock implements DoubleClock {
  constructor(private target: DoubleClock = systemClock) {}
  use(target: DoubleClock): void {
    this.target = target
  }
  readonly now = (): number => this.target.now()
  readonly setTimer = (at: number, fire: () => void): (() => void) => this.target.setTimer(at, fire)
}
