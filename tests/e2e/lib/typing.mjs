// Text for the users to type: distinct words, so pytest can tell whose keystrokes are where, and only
// letters, digits, spaces and newlines (nothing an editor would auto-close, indent or complete).

/** `lines` lines of four distinct words, each line starting with a newline: "\nalice a000 a001 ...". */
export function typedBlock(name, lines, tag = '') {
  let text = '';
  for (let line = 0; line < lines; line++) {
    const words = [];
    for (let word = 0; word < 4; word++) {
      words.push(`${name[0]}${tag}${String(line).padStart(2, '0')}${word}`);
    }
    text += `\n${name} ${words.join(' ')}`;
  }
  return text;
}
