from .startup import console_main

console_main()
