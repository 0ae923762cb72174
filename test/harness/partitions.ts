import type { ServiceProcess } from '../../local-stack/stack.ts';

/** The partitions a dispatcher process holds, as its /metrics says (pushflow_dispatcher_partition_held). */
export async function heldPartitions(dispatcher: ServiceProcess): Promise<number[]> {
  const text = await (await fetch(`http://127.0.0.1:${dispatcher.env.DISPATCHER_PORT}/metrics`)).text();
  return [...text.matchAll(/^pushflow_dispatcher_partition_held\{[^}]*partition="(\d+)"[^}]*\} 1$/gm)].map((m) => Number(m[1]));
}
