/** Something to flush and stop at shutdown. */
export interface TracingSdk {
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK, configured by the standard `OTEL_*`
 * variables (exporter endpoint and protocol, `OTEL_SERVICE_NAME`, sampler,
 * batch processor); loaded only when tracing is on, so a service without it
 * loads none of the SDK. Traces only: no instrumentations, metrics or logs
 * (Prometheus and the JSON log lines cover those). Unless `OTEL_PROPAGATORS`
 * says otherwise, traces are continued with W3C Trace Context (`traceparent`).
 */
export async function startTracingSdk(env: Readonly<Record<string, string | undefined>>): Promise<TracingSdk> {
  const { NodeSDK, core } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({
    // W3C Trace Context in and out; B3 from the proxy is read by Tracing itself (src/ops/tracing.ts).
    ...(env.OTEL_PROPAGATORS ? {} : { textMapPropagator: new core.W3CTraceContextPropagator() }),
    instrumentations: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return sdk;
}
