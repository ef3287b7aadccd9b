#include <stdio.h>
int main (void) { fputs ("dpi-buffer: not built yet\n", stderr); return 1; }
