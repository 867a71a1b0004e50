// A Server-Sent Events client for the tests: reads a text/event-stream with fetch and keeps every
// event it parsed, in order, so a test can compare what a client saw with the event log.

export interface SseEvent {
  id: number;
  event: string;
  data: unknown;
}

export interface SseClient {
  readonly events: SseEvent[];
  /** Settles when the stream ends: `null` when it ended cleanly, else the error that broke it. */
  readonly ended: Promise<Error | null>;
  close(): void;
}

export async function streamEvents(url: string, headers: Record<string, string>): Promise<SseClient> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: controller.signal });
  if (res.status !== 200 || !res.body) throw new Error(`SSE ${url} answered ${res.status}: ${await res.text()}`);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  const parse = (frame: string) => {
    let id: number | null = null;
    let event = "message";
    const data: string[] = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith("id: ")) id = Number(line.slice(4));
      else if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data.push(line.slice(6));
    }
    // Comments (": ping") and the retry hint carry no event.
    if (id !== null) events.push({ id, event, data: JSON.parse(data.join("\n")) });
  };
  const ended = (async () => {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
      return null;
    } catch (err) {
      return err as Error;
    }
  })();
  return { events, ended, close: () => controller.abort() };
}
