import { useEffect, useRef, useState } from 'react';
import type { LogChunk, Run } from './types.ts';

/** What a live log view knows. */
export interface LiveRun {
  readonly text: string;
  readonly run: Run | undefined;
  /** Whether the stream is open (false once the run ended or the connection failed). */
  readonly live: boolean;
  readonly error: string | undefined;
}

/**
 * Follows a run's log with server-sent events (the session cookie authenticates them): every line as
 * it is written, the run's state at each change, until it ends. Reconnects (from the last line seen)
 * when the connection drops.
 */
export function useLiveRun(app: string, number: number): LiveRun {
  const [state, setState] = useState<LiveRun>({ text: '', run: undefined, live: true, error: undefined });
  useEffect(() => {
    setState({ text: '', run: undefined, live: true, error: undefined });
    const source = new EventSource(`/api/apps/${encodeURIComponent(app)}/runs/${number}/logs?follow=true`);
    source.addEventListener('log', (event) => {
      const chunk = JSON.parse((event as MessageEvent<string>).data) as LogChunk;
      setState((current) => ({ ...current, text: current.text + chunk.text }));
    });
    source.addEventListener('run', (event) => {
      const run = JSON.parse((event as MessageEvent<string>).data) as Run;
      setState((current) => ({ ...current, run }));
    });
    source.addEventListener('end', (event) => {
      const run = JSON.parse((event as MessageEvent<string>).data) as Run;
      source.close();
      setState((current) => ({ ...current, run, live: false }));
    });
    source.onerror = () => {
      // EventSource reconnects by itself, sending Last-Event-ID; it gives up when the answer is not a stream.
      if (source.readyState === EventSource.CLOSED) {
        setState((current) => ({
          ...current,
          live: false,
          error: 'The log stream was closed by the server',
        }));
      }
    };
    return () => source.close();
  }, [app, number]);
  return state;
}

/** A run's log text, kept scrolled to the end while the reader has not scrolled up. */
export function RunLog({ text, label }: { readonly text: string; readonly label: string }) {
  const box = useRef<HTMLPreElement>(null);
  const pinned = useRef(true);
  // biome-ignore lint/correctness/useExhaustiveDependencies: scroll whenever the text grows.
  useEffect(() => {
    const element = box.current;
    if (element && pinned.current) element.scrollTop = element.scrollHeight;
  }, [text]);
  return (
    <pre
      ref={box}
      className="run-log"
      // A log region, not announced line by line: a build prints thousands.
      role="log"
      aria-label={label}
      aria-live="off"
      // biome-ignore lint/a11y/noNoninteractiveTabindex: the log scrolls, so keyboard users must reach it.
      tabIndex={0}
      onScroll={(event) => {
        const element = event.currentTarget;
        pinned.current = element.scrollTop + element.clientHeight >= element.scrollHeight - 8;
      }}
    >
      {text || 'Waiting for the first line…'}
    </pre>
  );
}
