// Names shared by the bench's processes (the same values as test/fixtures/service.ts).
export const RESOURCE = 'https://mcp.example.com/mcp';
export const UPSTREAM = 'https://upstream.example.com/api';
export const EXCHANGE_CLIENT = { id: 'mcp-gateway', secret: 'mcp-gateway-secret' };
