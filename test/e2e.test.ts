import { startStack } from './harness/stack.ts';
import { endToEnd } from './e2e-suite.ts';

endToEnd(() => startStack({ deliveryNodes: 2 }));
