// The five demo businesses `silo demo` (and SILO_DEMO=true) creates: an electronics shop, a
// clearing and forwarding agent, a phone shop, a pharmacy and a beauty salon, each with a plan,
// a few users, documents tagged for its trade and one chat session. No password is written here:
// every login's password is generated when the user is created, and shown once.
export interface DemoUser {
  email: string;
  name: string;
  role: 'company_admin' | 'member';
}

export interface DemoCompany {
  slug: string;
  name: string;
  maxUsers: number;
  features: Record<string, unknown>;
  /** The first is the company's first admin. */
  users: [DemoUser, ...DemoUser[]];
  documents: { title: string; content: string; tags: string[] }[];
  chat: { title: string; messages: { role: 'user' | 'assistant'; content: string }[] };
}

export const DEMO_COMPANIES: DemoCompany[] = [
  {
    slug: 'techland',
    name: 'TechLand Computers',
    maxUsers: 10,
    features: { inventory: true, repairs: true, invoicing: true },
    users: [
      { email: 'owner@techland.example', name: 'Rafiq Hasan', role: 'company_admin' },
      { email: 'sales@techland.example', name: 'Nadia Karim', role: 'member' },
      { email: 'repairs@techland.example', name: 'Tanvir Ahmed', role: 'member' },
    ],
    documents: [
      {
        title: 'Laptop stock, March',
        content: '14 business laptops, 9 gaming laptops, 22 chargers in the back room.',
        tags: ['inventory', 'laptops'],
      },
      {
        title: 'Warranty policy',
        content: 'Twelve months on new machines; three months on refurbished ones, parts only.',
        tags: ['policy', 'warranty'],
      },
      {
        title: 'Repair ticket procedure',
        content: 'Log the serial number, photograph the device, give the customer a ticket number.',
        tags: ['repairs', 'procedure'],
      },
    ],
    chat: {
      title: 'Restock planning',
      messages: [
        { role: 'user', content: 'Which laptop models sold out fastest last month?' },
        { role: 'assistant', content: 'The 14-inch business models: all nine were sold within twelve days.' },
      ],
    },
  },
  {
    slug: 'globaltrade',
    name: 'GlobalTrade CNF',
    maxUsers: 15,
    features: { shipments: true, customs: true, invoicing: true },
    users: [
      { email: 'director@globaltrade.example', name: 'Selina Rahman', role: 'company_admin' },
      { email: 'customs@globaltrade.example', name: 'Imran Chowdhury', role: 'member' },
      { email: 'ops@globaltrade.example', name: 'Farhana Islam', role: 'member' },
    ],
    documents: [
      {
        title: 'Bill of lading checklist',
        content: 'Consignee, notify party, port of loading, container and seal numbers.',
        tags: ['shipping', 'customs'],
      },
      {
        title: 'Import duty rates',
        content: 'Electronics 25%, textiles 37%, machinery parts 5%; check the current schedule.',
        tags: ['customs', 'tariffs'],
      },
      {
        title: 'Container tracking guide',
        content: 'Track by container number on the line\u2019s portal; note the vessel and ETA.',
        tags: ['logistics', 'containers'],
      },
    ],
    chat: {
      title: 'Port delays',
      messages: [
        { role: 'user', content: 'Which shipments are waiting at the port this week?' },
        { role: 'assistant', content: 'Two containers of garments, held for a missing certificate of origin.' },
      ],
    },
  },
  {
    slug: 'mobile',
    name: 'Mobile Shop Pro',
    maxUsers: 5,
    features: { pointOfSale: true, repairs: true },
    users: [
      { email: 'owner@mobile.example', name: 'Arif Hossain', role: 'company_admin' },
      { email: 'counter@mobile.example', name: 'Mitu Das', role: 'member' },
    ],
    documents: [
      {
        title: 'Screen replacement prices',
        content: 'Budget phones from 1,800; flagship screens quoted per model.',
        tags: ['repairs', 'pricing'],
      },
      { title: 'Accessory stock', content: '40 cases, 25 screen protectors, 18 fast chargers.', tags: ['inventory', 'accessories'] },
      { title: 'Trade-in policy', content: 'Working phones with their box: up to 30% off a new handset.', tags: ['policy', 'trade-in'] },
    ],
    chat: {
      title: 'Weekend offer',
      messages: [
        { role: 'user', content: 'Draft a weekend offer for phone cases.' },
        { role: 'assistant', content: 'Buy any phone, get a case and a screen protector at half price.' },
      ],
    },
  },
  {
    slug: 'pharmacy',
    name: 'HealthCare Pharmacy',
    maxUsers: 8,
    features: { prescriptions: true, inventory: true, expiryAlerts: true },
    users: [
      { email: 'pharmacist@pharmacy.example', name: 'Dr. Sharmin Akter', role: 'company_admin' },
      { email: 'assistant@pharmacy.example', name: 'Kamal Uddin', role: 'member' },
    ],
    documents: [
      {
        title: 'Controlled substances register',
        content: 'Every dispensed dose is entered the same day and countersigned.',
        tags: ['compliance', 'prescriptions'],
      },
      {
        title: 'Cold chain storage',
        content: 'Vaccines and insulin between 2 and 8 \u00b0C; log the fridge twice a day.',
        tags: ['storage', 'vaccines'],
      },
      {
        title: 'Expiry date checks',
        content: 'First Monday of the month: shelves checked, items within 90 days moved forward.',
        tags: ['inventory', 'expiry'],
      },
    ],
    chat: {
      title: 'Expiring stock',
      messages: [
        { role: 'user', content: 'What expires before the end of next month?' },
        { role: 'assistant', content: 'Three boxes of amoxicillin and one pack of test strips.' },
      ],
    },
  },
  {
    slug: 'salon',
    name: 'Beauty Salon Elite',
    maxUsers: 6,
    features: { appointments: true, loyalty: true },
    users: [
      { email: 'manager@salon.example', name: 'Ruma Begum', role: 'company_admin' },
      { email: 'stylist@salon.example', name: 'Tania Sultana', role: 'member' },
    ],
    documents: [
      { title: 'Service price list', content: 'Haircut 500, colour from 2,500, bridal package on request.', tags: ['pricing', 'services'] },
      {
        title: 'Appointment booking rules',
        content: 'Bookings held for 15 minutes; cancellations a day ahead, please.',
        tags: ['appointments', 'policy'],
      },
      { title: 'Hair colour stock', content: 'Order when fewer than five tubes of a shade are left.', tags: ['inventory', 'products'] },
    ],
    chat: {
      title: 'Loyalty programme',
      messages: [
        { role: 'user', content: 'Suggest a reward for customers on their fifth visit.' },
        { role: 'assistant', content: 'A free hair treatment with any cut on the fifth visit.' },
      ],
    },
  },
];
