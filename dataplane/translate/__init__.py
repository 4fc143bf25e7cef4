"""Pure translations between the OpenAI Chat Completions and the Anthropic Messages protocols: requests,
responses, streams, stop reasons and usage. No I/O, no clock, no globals beyond encoders built once."""
